"""Tests in real headless Chromium: the office plan and the demo walk."""
