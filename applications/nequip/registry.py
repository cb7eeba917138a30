"""The names a config or a command line may use for activations and dataset readers, taken from the one table
that implements each (the model's activation table, the data layer's reader table), so configs never carry a
copy of these lists.

>>> "silu" in activation_names(), reader_names()[0]
(True, 'auto')
"""

__all__ = ["activation_names", "reader_names", "check_activation", "check_reader"]


def activation_names():
    """Names of the activations of the gates and scalars (``model.nonlinearity_*``)."""
    from applications.nequip.model.interaction import ACTIVATIONS  # the implementation's own table

    return tuple(sorted(ACTIVATIONS))


def reader_names():
    """``'auto'`` and the dataset formats the readers implement (``data.format``, ``--format``)."""
    from applications.nequip.data.readers import READERS

    return ("auto",) + tuple(sorted(READERS))


def check_activation(name, where):
    """``name`` if it is an activation, else ValueError naming ``where`` and the choices."""
    names = activation_names()
    if name not in names:
        raise ValueError(f"{where} must be one of {', '.join(names)}; got {name!r}")
    return name


def check_reader(name, where):
    """``name`` if it is ``auto`` or a reader, else ValueError naming ``where`` and the choices."""
    names = reader_names()
    if name not in names:
        raise ValueError(f"{where} must be one of {', '.join(names)}; got {name!r}")
    return name
