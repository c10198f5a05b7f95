"""Answering: retrieval over the passage stores and answer composition."""
