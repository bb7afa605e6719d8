"""Synthetic worlds with known ground truth: exact oracles for hallucination and controllability."""
