"""Reference generative models: one readable file per model, all on the interface of base.py."""
