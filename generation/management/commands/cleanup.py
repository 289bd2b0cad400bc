from django.core.management.base import BaseCommand

from generation.housekeeping import cleanup


class Command(BaseCommand):
    help = "Delete generated files, failure artifacts and ended jobs older than CLEANUP_HOURS."

    def add_arguments(self, parser):
        parser.add_argument("--hours", type=float, default=None, help="Age in hours (default: CLEANUP_HOURS).")
        parser.add_argument("--dry-run", action="store_true", help="Only count what would be deleted.")

    def handle(self, *args, hours=None, dry_run=False, **options):
        counts = cleanup(hours, dry_run=dry_run)
        verb = "Would delete" if dry_run else "Deleted"
        self.stdout.write(f"{verb} {counts['jobs']} image jobs, {counts['files']} files and "
                          f"{counts['videos']} videos.")
