from django.core.management.base import BaseCommand

from generation.drivers.jimeng.credits import claim_all


class Command(BaseCommand):
    help = "Claim the daily free credits of every Jimeng/Dreamina account now (also a daily schedule)."

    def handle(self, *args, **options):
        for row in claim_all():
            self.stdout.write(", ".join(f"{k}={v}" for k, v in row.items()))
