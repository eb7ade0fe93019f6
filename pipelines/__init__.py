"""DALI data pipelines (installed as `mmssl.pipelines`), one module per family, each built for gpu or cpu.

Image pipelines: `build_loader(pipeline, data_dir, ...)` in loader.py, for "pirl", "jigsaw",
"rotation", "jigsaw_rotation" and "views"; torch_reference.py holds the torchvision baseline.
"""
