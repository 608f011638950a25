"""Models that remember how they were built.

A model file must rebuild its network without the YAML that made it, so every toolkit model
records the arguments its constructor received. `SelfDescribing` does that for any subclass:
it wraps the subclass's ``__init__`` and keeps the bound arguments (defaults filled in) in
``self.init_args``. The arguments must be JSON-serialisable, so a model file stays readable
by any later version of the toolkit, and an unserialisable argument fails at build time
rather than at export time, hours later.
"""

import functools
import inspect
import json


class SelfDescribing:
    """Mixin: records the constructor arguments of the most-derived class in ``init_args``.

    Use it before ``torch.nn.Module`` in the bases: ``class Net(SelfDescribing, nn.Module)``.
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is None:  # inherits a recorded __init__ already
            return
        signature = inspect.signature(init)

        @functools.wraps(init)
        def recording_init(self, *args, **kw):
            init(self, *args, **kw)
            # The outermost __init__ returns last, so the most-derived class's record wins.
            object.__setattr__(self, "init_args", _bind_arguments(cls, signature, self, args, kw))

        cls.__init__ = recording_init

    def class_path(self):
        """Importable dotted path of this model's class, as written into model files."""
        return f"{type(self).__module__}.{type(self).__qualname__}"


def _bind_arguments(cls, signature, self, args, kwargs):
    bound = signature.bind(self, *args, **kwargs)
    bound.apply_defaults()
    record = {}
    params = list(signature.parameters.values())[1:]  # drop self
    for param in params:
        if param.name not in bound.arguments:
            continue
        value = bound.arguments[param.name]
        if param.kind is inspect.Parameter.VAR_POSITIONAL:
            if value:
                raise TypeError(
                    f"{cls.__qualname__}: positional *{param.name} cannot be recorded in a model "
                    f"file; give the constructor named arguments instead."
                )
            continue
        if param.kind is inspect.Parameter.VAR_KEYWORD:
            record.update(value)
        else:
            record[param.name] = value
    for name, value in record.items():
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            raise TypeError(
                f"{cls.__qualname__}: argument {name}={value!r} is not JSON-serialisable, so the "
                f"model could not be saved as a self-describing file. Pass plain numbers, "
                f"strings, lists or dicts (e.g. a class name instead of a class)."
            ) from None
    return json.loads(json.dumps(record))  # a detached copy, tuples turned into lists
