from rest_framework.negotiation import BaseContentNegotiation


class AlwaysJSON(BaseContentNegotiation):
    """The API speaks JSON whatever the Accept header says (the SDK sends `application/binary`
    for downloads, which are not rendered by DRF anyway)."""

    def select_parser(self, request, parsers):
        for parser in parsers:
            if request.content_type.startswith(parser.media_type.split(";")[0]):
                return parser
        return None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type
