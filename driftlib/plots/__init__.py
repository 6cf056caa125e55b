"""Matplotlib figures for the notebooks, one module per concern. Plots never compute statistics."""
