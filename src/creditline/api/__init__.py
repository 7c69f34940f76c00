"""The HTTP shell: FastAPI app, bearer auth and RFC 9457 problem documents."""
