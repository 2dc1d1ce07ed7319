"""What a trained model learned, and recommendations from it: every command starts from a checkpoint.

Each sub-command module has ``register(subparsers)``, which adds its parsers and sets ``run(args)``: a
generator of the lines to print (paths written, tables). ``__main__`` lists and registers them; this file
imports none, so that importing one module of the package (a comparison's ``load``) pulls in no other.
"""
