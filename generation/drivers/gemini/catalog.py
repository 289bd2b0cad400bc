from generation.catalog import IMAGE_EDIT, IMAGE_GENERATE, ModelSpec

MODELS = [
    ModelSpec(
        id="gemini-image",
        provider="gemini",
        capabilities=frozenset({IMAGE_GENERATE, IMAGE_EDIT}),
        upstream="gemini-web",
        owned_by="google",
        description="Image generation and editing in the Gemini web app",
    ),
]
