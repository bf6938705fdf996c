"""Wire ⇄ core: params validated with pydantic, results and errors shaped for JSON-RPC 2.0."""
