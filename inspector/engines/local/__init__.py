"""The `local` engine: the standalone engine plus a head trained on this product's references."""

from .model import HEAD_FILES, LocalModel, availability, read_head, write_head

__all__ = ["HEAD_FILES", "LocalModel", "availability", "read_head", "write_head"]
