"""Local fake of the Gemini web app (gemini.google.com) and the Google hosts it uses.

See docs/fakes/gemini.md. ``FakeGemini`` is imported lazily so that importing the
package (e.g. by Django's app loading) does not pull in Werkzeug or Pillow.
"""

__all__ = ["FakeGemini"]


def __getattr__(name):
    if name == "FakeGemini":
        from .server import FakeGemini

        return FakeGemini
    raise AttributeError(name)
