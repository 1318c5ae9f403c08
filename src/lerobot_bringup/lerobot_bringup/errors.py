"""One error type for everything a user can get wrong when bringing a scenario up."""


class BringupError(Exception):
    """A scenario, an argument, a profile or a checkpoint the bringup cannot use; says the fix."""
