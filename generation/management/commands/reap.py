from django.core.management.base import BaseCommand

from generation.housekeeping import reap


class Command(BaseCommand):
    help = "Run the reaper once: free leases of dead workers, end overdue jobs, re-send lost ones."

    def handle(self, *args, **options):
        counts = reap()
        self.stdout.write(", ".join(f"{k}: {v}" for k, v in counts.items()))
