"""Model performance: one metric vocabulary, bootstrap intervals and slice comparisons for the concept report and the gate."""
