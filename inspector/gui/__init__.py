"""The PySide6 desktop application (the only package that imports Qt).

Entry point: `inspector.gui.app.run(workspace=None, open_demo=False) -> exit code`.
Layout: app.py (QApplication + window), main_window.py (picker, tabs, status bar), state.py
(shared workspace/product/settings), workers.py (the one worker base), tabs/ (one module per
tab, registered in tabs/__init__.py), widgets/ (banner, histogram, legend, canvas, ...).
"""
