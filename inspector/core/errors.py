"""Errors shown to users: each names the thing that is wrong and, where possible, the fix."""


class InspectorError(Exception):
    """Base class for errors the CLI and GUI print as a plain message (no traceback)."""


class ImageError(InspectorError):
    """An image file is missing, unreadable, corrupt, too large or of an unsupported kind."""


class NotFoundError(InspectorError):
    """A product, image or record that was asked for does not exist."""


class ConflictError(InspectorError):
    """The operation would duplicate something that must be unique (e.g. a product name)."""


class WorkspaceError(InspectorError):
    """The workspace is missing, unwritable, or its database is from a newer schema."""


class DatasetError(InspectorError):
    """An evaluation folder does not follow the MVTec-AD layout."""


class EngineUnavailable(InspectorError):
    """An engine cannot run here (missing weights, references or packages)."""


class Cancelled(InspectorError):
    """Long work was cancelled by the user."""
