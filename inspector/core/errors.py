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


# errno -> (what happened, what to do); the OS's own words are appended for the log reader.
_OS_ERRORS = {
    "ENOSPC": ("the disk is full", "free some space on that drive and try again"),
    "EDQUOT": ("the disk quota is exceeded", "free some space or ask for a larger quota"),
    "EACCES": ("permission denied", "check the folder's permissions or run as a user who may write there"),
    "EPERM": ("operation not permitted", "check the folder's permissions"),
    "EROFS": ("the drive is read-only", "use a writable drive for the workspace"),
    "ENAMETOOLONG": ("a file name is too long", "use shorter file or folder names (255 characters at most each)"),
    "ENOENT": ("a file or folder does not exist", "check the path"),
    "ENOTDIR": ("a path component is not a folder", "check the path"),
    "EISDIR": ("a folder was given where a file was expected", "check the path"),
    "EIO": ("the drive reported an input/output error", "check the drive or cable; copy the workspace elsewhere"),
    "ENOTEMPTY": ("a folder to be replaced is not empty (another Inspector may be writing the same product)",
                  "wait for the other command or window to finish, then try again"),
    "EEXIST": ("a file or folder of that name already exists", "remove it or choose another name"),
    "EMFILE": ("too many files are open in this process", "inspect fewer files at once, or raise the limit (ulimit -n)"),
    "ENFILE": ("the system has too many files open", "close other programs and try again"),
    "ELOOP": ("a path has too many symbolic links (a link loop?)", "check the links in the path"),
    "EBUSY": ("a file or folder is in use", "close the program using it and try again"),
    "ETXTBSY": ("a file is in use", "close the program using it and try again"),
    "EXDEV": ("a file cannot be moved across drives", "keep the workspace and its temporary files on one drive"),
    "ENODEV": ("the drive is not available", "reconnect the drive and try again"),
    "ESTALE": ("the network drive lost the file", "reconnect the network drive and try again"),
}

# sqlite message fragment -> (what happened, what to do)
_DB_ERRORS = {
    "database is locked": ("the workspace database is busy: another Inspector is writing to it",
                           "wait for the other command or window to finish, then try again"),
    "database or disk is full": ("the disk holding the workspace is full",
                                 "free some space on that drive and try again"),
    "disk image is malformed": ("the workspace database is damaged",
                                "restore inspector.db from a backup, or move the workspace aside and "
                                "create a new one with `inspector workspace init`"),
    "file is not a database": ("the workspace database is not an Inspector database (damaged or another file)",
                               "restore inspector.db from a backup or choose another workspace folder"),
    "readonly database": ("the workspace database is read-only", "check the permissions of inspector.db and its folder"),
    "unable to open database": ("the workspace database cannot be opened", "check that the folder exists and is writable"),
    "disk i/o error": ("the drive reported an input/output error", "check the drive; copy the workspace elsewhere"),
    "unique constraint failed": ("another Inspector stored the same item at the same moment",
                                 "run the command again; what is already stored is kept"),
    "foreign key constraint failed": ("the product was changed or deleted by another Inspector meanwhile",
                                      "check `inspector products list` and run the command again"),
}


def user_message(exc: BaseException) -> str | None:
    """The `<what> — <what to do>` text for an error a user can cause or meet; None if unknown.

    One translation for the CLI and the GUI, so a raw OSError or database error never reaches
    a user as a traceback.
    """
    import errno

    if isinstance(exc, InspectorError):
        return str(exc)
    if isinstance(exc, MemoryError):
        return "not enough memory for this work — close other programs or use smaller images"
    text = str(getattr(exc, "orig", None) or exc).lower()  # sqlalchemy wraps sqlite3's error in .orig
    for fragment, (what, fix) in _DB_ERRORS.items():
        if fragment in text and _is_database_error(exc):
            return f"{what} — {fix}"
    if isinstance(exc, OSError) and exc.errno is not None:
        name = errno.errorcode.get(exc.errno, "")
        if name in _OS_ERRORS:
            what, fix = _OS_ERRORS[name]
            where = f" ({exc.filename})" if exc.filename else ""
            return f"{what}{where} — {fix}"
        if exc.strerror:
            where = f" ({exc.filename})" if exc.filename else ""
            return f"{exc.strerror.lower()}{where} — check the path and try again"
    return None


def _is_database_error(exc: BaseException) -> bool:
    import sqlite3

    if isinstance(exc, sqlite3.Error):
        return True
    try:
        from sqlalchemy.exc import DBAPIError
    except ImportError:  # pragma: no cover - sqlalchemy is a dependency
        return False
    return isinstance(exc, DBAPIError)
