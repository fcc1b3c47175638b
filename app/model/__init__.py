"""The model: the contract (classes, input size, normalization, the card, sha256-checked
weights), networks, devices, runtimes (torch, ONNX Runtime) behind one interface, and the
Classifier that turns photos into calibrated Predictions. Imports `photos` and `defaults`;
torch only where a runtime or network needs it.
"""
