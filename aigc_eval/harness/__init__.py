"""Training and evaluation harness: suites -> cells -> results."""
