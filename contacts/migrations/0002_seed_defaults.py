"""Seeds the defaults of DOMAIN.md section 3: frequency caps, contact plans and message templates.

Admins edit all of them afterwards; re-running keeps whatever they changed (get_or_create).
"""

from django.db import migrations

NO_LIMIT = None

# (channel, kind, at most, per days, note)
CAPS = [
    ("social", "advertising", NO_LIMIT, 1, "Social posts: no limit"),
    ("social", "content", NO_LIMIT, 1, "Social posts: no limit"),
    ("social", "personal", NO_LIMIT, 1, "Social posts: no limit"),
    ("email", "advertising", 1, 14, "Advertising only: at most once per 2 weeks"),
    ("email", "content", 1, 7, "Useful content with advertising: at most once per week"),
    ("email", "personal", 1, 7, "A rep's own e-mail counts as useful content: once per week"),
    ("sms", "advertising", 1, 30, "SMS: at most once per month"),
    ("sms", "content", 1, 30, "SMS: at most once per month"),
    ("sms", "personal", 1, 30, "SMS: at most once per month"),
    ("phone", "advertising", 1, 30, "Phone: at most once per month, or as agreed"),
    ("phone", "content", 1, 30, "Phone: at most once per month, or as agreed"),
    ("phone", "personal", 1, 30, "Personal call: the phone cap (once per month, or as agreed)"),
    ("in_person", "advertising", 1, 7, "Meetings: at most once per week"),
    ("in_person", "content", 1, 7, "Meetings: at most once per week"),
    ("in_person", "personal", 1, 7, "Meetings: at most once per week"),
]

PLANS = [
    {
        "code": "key-account-call", "order": 20, "name": "Class A: personal call every 30 days",
        "segment": "value_a", "action": "call", "channel": "phone", "kind": "personal",
        "every_days": 30, "within_days": 7, "offer": "",
    },
    {
        "code": "at-risk-call", "order": 10, "name": "High value at risk: a call within 2 days",
        "segment": "high_value_at_risk", "action": "call", "channel": "phone", "kind": "personal",
        "every_days": 30, "within_days": 2, "offer": "Ask what changed; offer a personal discount",
    },
    {
        "code": "win-back-call", "order": 30, "name": "Dormant: win-back call",
        "segment": "dormant", "action": "call", "channel": "phone", "kind": "personal",
        "every_days": 60, "within_days": 7, "offer": "10% off the next order",
    },
    {
        "code": "win-back-email", "order": 50, "name": "Dormant: win-back e-mail offer",
        "segment": "dormant", "action": "message", "channel": "email", "kind": "advertising",
        "template_code": "win_back", "every_days": 60, "offer": "",
    },
    {
        "code": "newsletter", "order": 90, "name": "Newsletter to everyone with consent",
        "segment": "with_consent", "action": "message", "channel": "email", "kind": "content",
        "template_code": "newsletter", "every_days": 14, "offer": "",
    },
    {
        "code": "birthday-greeting", "order": 40, "name": "Birthday greetings",
        "segment": "birthday", "action": "message", "channel": "email", "kind": "content",
        "template_code": "birthday", "every_days": 300, "offer": "",
    },
    {
        "code": "event-invitation", "order": 70, "name": "Event invitation for top customers",
        "segment": "top_customers", "action": "message", "channel": "email", "kind": "content",
        "template_code": "event_invitation", "every_days": 90, "offer": "",
        # Switched on by an admin when there is an event to invite to.
        "active": False,
    },
    {
        "code": "feedback-after-purchase", "order": 60, "name": "Feedback survey the day after a purchase",
        "segment": "recent_buyers", "action": "feedback", "channel": "email", "kind": "content",
        "template_code": "feedback_survey", "every_days": 90, "offer": "",
    },
]

UNSUBSCRIBE_EN = "\n\n--\nTo stop these messages: {{ unsubscribe_url }}"
UNSUBSCRIBE_RU = "\n\n--\nОтписаться от рассылки: {{ unsubscribe_url }}"

# (code, channel, language, kind, name, subject, body)
TEMPLATES = [
    ("win_back", "email", "en", "advertising", "Win-back offer",
     "{{ first_name }}, we miss you",
     "Hello {{ first_name }},\n\nit has been a while since your last order, and we would like to "
     "see you again.{% if offer %} Especially for you: {{ offer }}.{% endif %}"
     "{% if points_balance %}\nYou have {{ points_balance }} points{% if tier %} ({{ tier }}){% endif %} waiting.{% endif %}"
     "\n\n{{ company }}" + UNSUBSCRIBE_EN),
    ("win_back", "email", "ru", "advertising", "Предложение вернуться",
     "{{ first_name }}, мы скучаем",
     "Здравствуйте, {{ first_name }}!\n\nВы давно у нас не были, и мы будем рады видеть вас снова."
     "{% if offer %} Специально для вас: {{ offer }}.{% endif %}"
     "{% if points_balance %}\nНа вашем счёте {{ points_balance }} баллов{% if tier %} (уровень {{ tier }}){% endif %}.{% endif %}"
     "\n\n{{ company }}" + UNSUBSCRIBE_RU),
    ("win_back", "sms", "en", "advertising", "Win-back offer (SMS)", "",
     "{{ first_name }}, we miss you!{% if offer %} {{ offer }}.{% endif %} {{ company }}"),
    ("win_back", "sms", "ru", "advertising", "Предложение вернуться (SMS)", "",
     "{{ first_name }}, мы скучаем!{% if offer %} {{ offer }}.{% endif %} {{ company }}"),
    ("birthday", "email", "en", "content", "Birthday greeting",
     "Happy birthday, {{ first_name }}!",
     "Dear {{ first_name }},\n\nhappy birthday from all of us at {{ company }}!"
     "{% if offer %} Our gift to you: {{ offer }}.{% endif %}" + UNSUBSCRIBE_EN),
    ("birthday", "email", "ru", "content", "Поздравление с днём рождения",
     "С днём рождения, {{ first_name }}!",
     "{{ first_name }}, поздравляем вас с днём рождения!"
     "{% if offer %} Наш подарок: {{ offer }}.{% endif %}\n\n{{ company }}" + UNSUBSCRIBE_RU),
    ("birthday", "sms", "en", "content", "Birthday greeting (SMS)", "",
     "Happy birthday, {{ first_name }}! {{ company }}"),
    ("birthday", "sms", "ru", "content", "Поздравление с днём рождения (SMS)", "",
     "{{ first_name }}, с днём рождения! {{ company }}"),
    ("newsletter", "email", "en", "content", "Newsletter",
     "News from {{ company }}",
     "Hello {{ first_name }},\n\nhere is what is new at {{ company }} this month.\n\n"
     "(An administrator writes this issue's text in the message template.)"
     "{% if points_balance %}\n\nYour points: {{ points_balance }}{% if tier %} ({{ tier }}){% endif %}.{% endif %}"
     + UNSUBSCRIBE_EN),
    ("newsletter", "email", "ru", "content", "Новости",
     "Новости {{ company }}",
     "Здравствуйте, {{ first_name }}!\n\nРассказываем, что нового в {{ company }} в этом месяце.\n\n"
     "(Текст выпуска администратор пишет в шаблоне сообщения.)"
     "{% if points_balance %}\n\nВаши баллы: {{ points_balance }}{% if tier %} (уровень {{ tier }}){% endif %}.{% endif %}"
     + UNSUBSCRIBE_RU),
    ("feedback_survey", "email", "en", "content", "Feedback survey",
     "How are we doing, {{ first_name }}?",
     "Hello {{ first_name }},\n\nhow likely are you to recommend {{ company }} to a friend or "
     "colleague? It takes half a minute:\n{{ feedback_url }}\n\nThank you!" + UNSUBSCRIBE_EN),
    ("feedback_survey", "email", "ru", "content", "Опрос об обслуживании",
     "{{ first_name }}, как мы работаем?",
     "Здравствуйте, {{ first_name }}!\n\nНасколько вероятно, что вы порекомендуете {{ company }} "
     "друзьям или коллегам? Это займёт полминуты:\n{{ feedback_url }}\n\nСпасибо!" + UNSUBSCRIBE_RU),
    ("event_invitation", "email", "en", "content", "Event invitation",
     "{{ first_name }}, you are invited",
     "Dear {{ first_name }},\n\nwe would be glad to see you at our event for our best customers."
     "{% if offer %} {{ offer }}{% endif %}\n\n{{ company }}" + UNSUBSCRIBE_EN),
    ("event_invitation", "email", "ru", "content", "Приглашение на мероприятие",
     "{{ first_name }}, приглашаем вас",
     "{{ first_name }}, будем рады видеть вас на нашем мероприятии для лучших клиентов."
     "{% if offer %} {{ offer }}{% endif %}\n\n{{ company }}" + UNSUBSCRIBE_RU),
]


def seed(apps, schema_editor):
    CapRule = apps.get_model("contacts", "CapRule")
    ContactPlan = apps.get_model("contacts", "ContactPlan")
    MessageTemplate = apps.get_model("contacts", "MessageTemplate")
    for channel, kind, max_count, period_days, note in CAPS:
        CapRule.objects.get_or_create(
            channel=channel,
            kind=kind,
            defaults={"max_count": max_count, "period_days": period_days, "note": note},
        )
    for plan in PLANS:
        fields = dict(plan)
        code = fields.pop("code")
        ContactPlan.objects.get_or_create(code=code, defaults=fields)
    for code, channel, language, kind, name, subject, body in TEMPLATES:
        MessageTemplate.objects.get_or_create(
            code=code,
            channel=channel,
            language=language,
            defaults={"kind": kind, "name": name, "subject": subject, "body": body},
        )


class Migration(migrations.Migration):
    dependencies = [("contacts", "0001_initial")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
