"""`create_organisation`, `create_account` and `create_api_token`, for operators."""
