from django.contrib.auth.hashers import Argon2PasswordHasher


class FastArgon2PasswordHasher(Argon2PasswordHasher):
    """Argon2id with minimal cost, for tests only: same encoding, same verification."""

    time_cost = 1
    memory_cost = 256
    parallelism = 1
