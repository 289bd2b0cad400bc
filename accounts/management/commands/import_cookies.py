from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts.cookies import CookieParseError, parse_credentials
from accounts.discovery import AccountDiscoveryError, scan_accounts
from accounts.models import Account, Provider


class Command(BaseCommand):
    help = (
        "Import account credentials from a file or from a directory in the seed layout "
        "(<dir>/<name>/cookies.json|cookies.txt and <dir>/<name>.json|.txt). Re-importing a name replaces "
        "its credentials and returns it to active. Exits non-zero if any input was rejected."
    )

    def add_arguments(self, parser):
        parser.add_argument("path")
        parser.add_argument("--provider", choices=Provider.values, help="Default: detected from the cookies.")
        parser.add_argument("--name", help="Account name (only when PATH is a single file).")
        parser.add_argument("--region", choices=["cn", "us", "hk", "jp", "sg"],
                            help="Jimeng/Dreamina region when the cookies do not tell it.")
        parser.add_argument("--max-concurrency", type=int, help="Jobs the account may run at once (default 1).")

    def handle(self, *args, path, provider=None, name=None, region=None, max_concurrency=None, **options):
        if max_concurrency is not None and max_concurrency < 1:
            raise CommandError("--max-concurrency must be at least 1")
        try:
            found = scan_accounts(path)
        except AccountDiscoveryError as exc:
            raise CommandError(str(exc)) from None
        if name and len(found.accounts) != 1:
            raise CommandError("--name only applies when PATH is a single account file")
        for note in found.notes:
            self.stdout.write(f"note: {note}")

        created = updated = rejected = 0
        for account_name, file_path in found.accounts:
            account_name = name or account_name
            try:
                creds = parse_credentials(file_path.read_bytes(), provider=provider, source=str(file_path),
                                          region=region)
            except CookieParseError as exc:
                rejected += 1
                self.stdout.write(f"REJECTED {account_name}: {exc}")
                continue
            except OSError as exc:
                rejected += 1
                self.stdout.write(f"REJECTED {account_name}: {file_path}: {exc.strerror}")
                continue
            with transaction.atomic():
                account = Account.objects.filter(name=account_name).first()
                is_new = account is None
                if is_new:
                    account = Account(name=account_name, provider=creds.provider)
                elif account.provider != creds.provider:
                    rejected += 1
                    self.stdout.write(f"REJECTED {account_name}: an existing account of this name is "
                                      f"{account.provider}, the file holds {creds.provider} cookies")
                    continue
                if max_concurrency is not None:
                    account.max_concurrency = max_concurrency
                account.set_credentials(creds)
                account.save()
            created += is_new
            updated += not is_new
            summary = creds.summary()
            region_note = f" region={creds.region}" if creds.region else ""
            self.stdout.write(
                f"{'created' if is_new else 'updated'} {account_name}: {creds.provider}{region_note}, "
                f"{summary.get('count', len(creds.cookies))} cookies, state={account.state}"
            )
        self.stdout.write(f"Imported {created + updated} account(s): {created} created, {updated} updated, "
                          f"{rejected} rejected.")
        if rejected:
            raise CommandError(f"{rejected} input(s) rejected")
