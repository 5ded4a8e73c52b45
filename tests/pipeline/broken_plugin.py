"""A plugin whose register() fails: trtforge must report it by name and carry on."""


def register(registry) -> None:  # noqa: ANN001
    raise RuntimeError("this plugin is broken on purpose")
