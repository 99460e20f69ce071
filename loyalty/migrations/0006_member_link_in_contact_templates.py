"""Every e-mail the contacts app sends (win-back, birthday, newsletter, survey, invitation) carries
the member-page link too: loyalty's `message_variables` receiver supplies {{ member_url }} to every
message, and this adds a line using it to the e-mail templates seeded by contacts, just above the
unsubscribe footer (or at the end). Templates that already mention member_url, SMS templates (every
character costs) and anything an admin added later are left alone; admins edit them afterwards.
"""

from django.db import migrations

LINE = {
    "en": "{% if member_url %}\n\nYour points, rewards and settings: {{ member_url }}{% endif %}",
    "ru": "{% if member_url %}\n\nВаши баллы, награды и настройки: {{ member_url }}{% endif %}",
}
FOOTER = "\n\n--\n"
CODES = ("win_back", "birthday", "newsletter", "feedback_survey", "event_invitation")


def add_member_link(apps, schema_editor):
    template_model = apps.get_model("contacts", "MessageTemplate")
    for template in template_model.objects.filter(code__in=CODES, channel="email"):
        if "member_url" in template.body or template.language not in LINE:
            continue
        line = LINE[template.language]
        head, footer, tail = template.body.rpartition(FOOTER)
        template.body = f"{head}{line}{footer}{tail}" if footer else template.body + line
        template.save(update_fields=["body"])


class Migration(migrations.Migration):
    dependencies = [
        ("contacts", "0002_seed_defaults"),
        ("loyalty", "0005_pending_accrual"),
    ]

    operations = [migrations.RunPython(add_member_link, migrations.RunPython.noop)]
