"""The model: the contract (classes, input size, normalization, the card, sha256-checked
weights), the model id, calibration maths, networks, devices, runtimes (torch, ONNX Runtime,
OpenVINO) behind one interface and the choice among them, and the Classifier that turns photos into calibrated Predictions (the
SceneClassifier protocol). Imports `photos` and `defaults`;
torch only where a runtime or network needs it.
"""
