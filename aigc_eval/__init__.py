"""aigc-eval: reproducible evaluation of generative models.

Data flows one way: dataset -> model -> samples -> features -> metrics -> results -> report.
"""

__version__ = "0.1.0"
