"""Local stand-ins for payment providers, for demos and end-to-end tests; never production."""
