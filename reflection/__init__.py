"""Kintsugi."""
