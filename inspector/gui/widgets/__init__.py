"""Reusable widgets: verdict banner, progress panel, heat legend, histogram, empty states."""
