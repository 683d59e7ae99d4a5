"""The feature transform: fitted on the training split by preprocessing, applied by training, evaluation, serving,
fairness and monitoring alike (and, on several hosts, fitted from every host's statistics)."""
