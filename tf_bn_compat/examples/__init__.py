"""Examples of the layers in TF1-style training code (Estimator model_fn, ResNet)."""
