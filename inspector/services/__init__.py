"""Services shared by the CLI and the GUI. They take a Workspace and return plain records;
ORM objects never leave these functions (one session per call)."""
