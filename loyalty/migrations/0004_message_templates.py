"""The programme's message templates (purchase confirmation, expiry warning, balance reminder) per
channel and language. Admins edit them afterwards (Contacts > Message templates); re-running keeps
whatever they changed (get_or_create). Variables come from loyalty's `message_variables` receiver
(points_balance, tier, next_tier, spend_to_next_tier, currency, reward_now, reward_next,
points_to_reward_next, member_url) and from the message itself (points_earned, points_expiring,
expiry_date)."""

from django.db import migrations

UNSUBSCRIBE_EN = "\n\n--\nTo stop these messages: {{ unsubscribe_url }}"
UNSUBSCRIBE_RU = "\n\n--\nОтписаться от рассылки: {{ unsubscribe_url }}"

PROGRESS_EN = (
    "{% if next_tier %}\n{{ spend_to_next_tier }} {{ currency }} more to {{ next_tier }}.{% endif %}"
)
PROGRESS_RU = (
    "{% if next_tier %}\nДо уровня {{ next_tier }} осталось {{ spend_to_next_tier }} {{ currency }}."
    "{% endif %}"
)
OFFER_EN = (
    "{% if reward_now %}\nYour points already pay for: {{ reward_now }}."
    "{% elif reward_next %}\n{{ points_to_reward_next }} more points and {{ reward_next }} is yours."
    "{% endif %}"
)
OFFER_RU = (
    "{% if reward_now %}\nВаших баллов уже хватает на: {{ reward_now }}."
    "{% elif reward_next %}\nЕщё {{ points_to_reward_next }} баллов — и {{ reward_next }} ваш."
    "{% endif %}"
)
MEMBER_EN = "\n\nYour member page (balance, history, rewards, settings): {{ member_url }}"
MEMBER_RU = "\n\nВаша страница участника (баланс, история, награды, настройки): {{ member_url }}"

# (code, channel, language, name, subject, body)
TEMPLATES = [
    ("loyalty_purchase", "email", "en", "Loyalty: purchase confirmation",
     "{{ first_name }}, you earned {{ points_earned }} points",
     "Hello {{ first_name }},\n\nthank you for your purchase! It earned you {{ points_earned }} "
     "points; your balance is {{ points_balance }} points{% if tier %} ({{ tier }}){% endif %}."
     + PROGRESS_EN + OFFER_EN + MEMBER_EN + "\n\n{{ company }}" + UNSUBSCRIBE_EN),
    ("loyalty_purchase", "email", "ru", "Баллы: подтверждение покупки",
     "{{ first_name }}, вам начислено {{ points_earned }} баллов",
     "Здравствуйте, {{ first_name }}!\n\nСпасибо за покупку! За неё начислено {{ points_earned }} "
     "баллов, на вашем счёте {{ points_balance }} баллов{% if tier %} (уровень {{ tier }}){% endif %}."
     + PROGRESS_RU + OFFER_RU + MEMBER_RU + "\n\n{{ company }}" + UNSUBSCRIBE_RU),
    ("loyalty_purchase", "sms", "en", "Loyalty: purchase confirmation (SMS)", "",
     "+{{ points_earned }} points, balance {{ points_balance }}.{% if next_tier %} "
     "{{ spend_to_next_tier }} {{ currency }} to {{ next_tier }}.{% endif %} {{ member_url }}"),
    ("loyalty_purchase", "sms", "ru", "Баллы: подтверждение покупки (SMS)", "",
     "+{{ points_earned }} баллов, баланс {{ points_balance }}.{% if next_tier %} До "
     "{{ next_tier }}: {{ spend_to_next_tier }} {{ currency }}.{% endif %} {{ member_url }}"),
    ("loyalty_expiry", "email", "en", "Loyalty: points expiry warning",
     "{{ points_expiring }} of your points expire on {{ expiry_date }}",
     "Hello {{ first_name }},\n\n{{ points_expiring }} of your {{ points_balance }} points expire "
     "on {{ expiry_date }}. Spend them before then." + OFFER_EN + MEMBER_EN
     + "\n\n{{ company }}" + UNSUBSCRIBE_EN),
    ("loyalty_expiry", "email", "ru", "Баллы: предупреждение о сгорании",
     "{{ expiry_date }} сгорят {{ points_expiring }} ваших баллов",
     "Здравствуйте, {{ first_name }}!\n\n{{ expiry_date }} сгорят {{ points_expiring }} из "
     "{{ points_balance }} ваших баллов. Успейте их потратить." + OFFER_RU + MEMBER_RU
     + "\n\n{{ company }}" + UNSUBSCRIBE_RU),
    ("loyalty_expiry", "sms", "en", "Loyalty: points expiry warning (SMS)", "",
     "{{ points_expiring }} points expire on {{ expiry_date }}. {{ member_url }}"),
    ("loyalty_expiry", "sms", "ru", "Баллы: предупреждение о сгорании (SMS)", "",
     "{{ expiry_date }} сгорят {{ points_expiring }} баллов. {{ member_url }}"),
    ("loyalty_balance", "email", "en", "Loyalty: monthly balance reminder",
     "{{ first_name }}, you have {{ points_balance }} points",
     "Hello {{ first_name }},\n\nyou have {{ points_balance }} points"
     "{% if tier %} and the {{ tier }} tier{% endif %}." + PROGRESS_EN + OFFER_EN + MEMBER_EN
     + "\n\n{{ company }}" + UNSUBSCRIBE_EN),
    ("loyalty_balance", "email", "ru", "Баллы: ежемесячное напоминание о балансе",
     "{{ first_name }}, у вас {{ points_balance }} баллов",
     "Здравствуйте, {{ first_name }}!\n\nНа вашем счёте {{ points_balance }} баллов"
     "{% if tier %}, ваш уровень — {{ tier }}{% endif %}." + PROGRESS_RU + OFFER_RU + MEMBER_RU
     + "\n\n{{ company }}" + UNSUBSCRIBE_RU),
    ("loyalty_balance", "sms", "en", "Loyalty: monthly balance reminder (SMS)", "",
     "You have {{ points_balance }} points. {{ member_url }}"),
    ("loyalty_balance", "sms", "ru", "Баллы: ежемесячное напоминание о балансе (SMS)", "",
     "У вас {{ points_balance }} баллов. {{ member_url }}"),
]


def create_templates(apps, schema_editor):
    template_model = apps.get_model("contacts", "MessageTemplate")
    for code, channel, language, name, subject, body in TEMPLATES:
        template_model.objects.get_or_create(
            code=code,
            channel=channel,
            language=language,
            defaults={"kind": "content", "name": name, "subject": subject, "body": body},
        )


class Migration(migrations.Migration):
    dependencies = [
        ("contacts", "0002_seed_defaults"),
        ("loyalty", "0003_messages_and_member_page"),
    ]

    operations = [migrations.RunPython(create_templates, migrations.RunPython.noop)]
