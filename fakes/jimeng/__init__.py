"""Faithful local fake of the Jimeng (CN) / Dreamina (international) web API upstream.

See docs/fakes/jimeng.md. Entry points: `fakes.jimeng.server.FakeJimeng` and the
`fake_jimeng` management command.
"""


def __getattr__(name):
    # Lazy, so importing the package (e.g. for protocol constants) stays light.
    if name == "FakeJimeng":
        from .server import FakeJimeng

        return FakeJimeng
    raise AttributeError(name)
