"""Password hashing for a service: Argon2id at OWASP's settings for it, not Django's default.

Django's Argon2 defaults to 100 MiB a hash (parallelism 8), so twenty people signing in at
09:00 need 2 GB. OWASP's Password Storage Cheat Sheet lists equal-strength Argon2id settings;
of them, 12 MiB with 3 passes and 1 lane keeps a process with four threads signing people in
under 150 MB (bench/sign_in_memory.py). The algorithm name stays "argon2": a hash made with
other settings still verifies, and Django makes it again with these at its owner's next sign-in.
"""

from __future__ import annotations

from django.contrib.auth.hashers import Argon2PasswordHasher


class ServiceArgon2PasswordHasher(Argon2PasswordHasher):
    time_cost = 3
    memory_cost = 12 * 1024  # KiB
    parallelism = 1
