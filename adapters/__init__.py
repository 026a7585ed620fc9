"""Pure provider protocol code. Imports only the standard library, requests, cryptography."""
