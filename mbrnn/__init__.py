"""mbrnn: a reproducible study of the Multitask Balanced and Recalibrated Neural Network for ICD-9 coding."""

__version__ = "0.1.0"
