"""The logic of the Python example stage: configuration, backup walk, restore."""
