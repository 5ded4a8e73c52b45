"""Triton model repositories: protobuf config builders (kinds/), the python models shipped (models/), the
writer, the offline validator, and the tensor specs extracted from NVIDIA's templates (trtforge/data/triton/,
one file
per NVIDIA release)."""
