"""The extraction benchmark's cases (bench/extraction.py) and how a labelled case is scored.

Each case is a short realistic text and the JSON schema of what to extract from it: nested objects, arrays
of objects, enums, optional fields (not in `required`) and string formats (date, date-time, time, email,
uri). `expected` (on the labelled subset) maps key fields, as dotted paths into the answer (`items.0.sku`),
to their right values.

Scoring rule: a labelled case is right when every key field matches after light normalisation:
- strings: Unicode NFKC, case-folded, whitespace collapsed, surrounding whitespace and a trailing period
  dropped ("  ACME Corp. " == "acme corp"); dates and e-mails are compared as such strings, so a date must
  be in the schema's ISO form;
- numbers: equal within 1e-6 (an integer 3 equals 3.0); booleans: identical;
- an expected null matches a null or a missing field; a list matches element by element, in order.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

# -- schema shorthand -----------------------------------------------------------------------------------

STR: dict[str, Any] = {"type": "string"}
INT: dict[str, Any] = {"type": "integer"}
NUM: dict[str, Any] = {"type": "number"}
BOOL: dict[str, Any] = {"type": "boolean"}
DATE: dict[str, Any] = {"type": "string", "format": "date"}
DATETIME: dict[str, Any] = {"type": "string", "format": "date-time"}
TIME: dict[str, Any] = {"type": "string", "format": "time"}
EMAIL: dict[str, Any] = {"type": "string", "format": "email"}
URI: dict[str, Any] = {"type": "string", "format": "uri"}


def obj(required: dict[str, Any], optional: dict[str, Any] | None = None) -> dict[str, Any]:
    """An object with `required` keys and `optional` ones (listed in `properties`, not in `required`)."""
    return {"type": "object", "properties": {**required, **(optional or {})}, "required": list(required)}


def arr(items: dict[str, Any], **limits: int) -> dict[str, Any]:
    return {"type": "array", "items": items, **limits}


def enum(*values: str) -> dict[str, Any]:
    return {"type": "string", "enum": list(values)}


ADDRESS = obj(
    {"street": STR, "city": STR, "country": STR},
    {"postal_code": STR, "region": STR},
)
PERSON = obj({"name": STR}, {"email": EMAIL, "phone": STR})


@dataclass(frozen=True, slots=True)
class Case:
    id: str
    text: str
    schema: dict[str, Any]
    expected: dict[str, Any] | None = field(default=None)  # dotted path -> right value (labelled subset)


# -- scoring ---------------------------------------------------------------------------------------------

_MISSING = object()


def normalise(value: Any) -> Any:
    """The form two values are compared in (see the module docstring)."""
    if isinstance(value, str):
        text = " ".join(unicodedata.normalize("NFKC", value).casefold().split())
        return text.removesuffix(".").strip()
    if isinstance(value, list):
        return [normalise(v) for v in value]
    return value


def same(expected: Any, got: Any) -> bool:
    if expected is None:
        return got is None or got is _MISSING
    if isinstance(expected, bool) or isinstance(got, bool):
        return expected is got
    if isinstance(expected, int | float) and isinstance(got, int | float):
        return math.isclose(expected, got, rel_tol=1e-6, abs_tol=1e-6)
    if isinstance(expected, list) and isinstance(got, list):
        return len(expected) == len(got) and all(same(e, g) for e, g in zip(expected, got, strict=True))
    return normalise(expected) == normalise(got)


def lookup(answer: Any, path: str) -> Any:
    """The value at a dotted path (`items.0.sku`), or a private marker when it is not there."""
    node = answer
    for part in path.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and re.fullmatch(r"\d+", part) and int(part) < len(node):
            node = node[int(part)]
        else:
            return _MISSING
    return node


def wrong_fields(expected: dict[str, Any], answer: Any) -> list[str]:
    """The key fields of a labelled case that the answer gets wrong (empty: the case is right)."""
    return [path for path, value in expected.items() if not same(value, lookup(answer, path))]


# -- the cases -------------------------------------------------------------------------------------------

LINE_ITEM = obj({"description": STR, "quantity": NUM, "unit_price": NUM}, {"sku": STR})
MONEY = obj({"amount": NUM, "currency": enum("USD", "EUR", "GBP", "JPY", "CAD", "AUD", "CHF")})

CASES: list[Case] = [
    Case(
        "invoice-01",
        "INVOICE #INV-2024-0193 from Brightline Office Supply, 410 Harbor Rd, Portland, OR 97201, USA. "
        "Issued March 3, 2024, payable within 30 days (due April 2, 2024). Bill to: Kestrel Design LLC. "
        "3 x Ergonomic chair (SKU CH-220) at $189.00 each; 10 x A4 paper ream at $6.50 each. "
        "Total due: $632.00 USD. Questions: billing@brightline-supply.com",
        obj(
            {
                "invoice_number": STR,
                "issue_date": DATE,
                "vendor": obj({"name": STR}, {"address": ADDRESS, "email": EMAIL}),
                "line_items": arr(LINE_ITEM, minItems=1),
                "total": MONEY,
            },
            {"due_date": DATE, "customer": STR},
        ),
        {
            "invoice_number": "INV-2024-0193",
            "issue_date": "2024-03-03",
            "due_date": "2024-04-02",
            "vendor.name": "Brightline Office Supply",
            "line_items.0.quantity": 3,
            "line_items.0.unit_price": 189.0,
            "line_items.1.quantity": 10,
            "total.amount": 632.0,
            "total.currency": "USD",
        },
    ),
    Case(
        "invoice-02",
        "Rechnung 55-781 — Müller & Söhne GmbH, Kaiserstraße 12, 60311 Frankfurt am Main, Germany. "
        "Date: 14 November 2023. Services: website maintenance, 12 hours at EUR 85.00 per hour; hosting "
        "(annual), 1 at EUR 240.00. Net EUR 1,260.00, VAT 19% EUR 239.40, total EUR 1,499.40. "
        "Pay by bank transfer to IBAN DE89 3704 0044 0532 0130 00.",
        obj(
            {
                "invoice_number": STR,
                "issue_date": DATE,
                "seller": obj({"name": STR, "address": ADDRESS}),
                "line_items": arr(LINE_ITEM),
                "net": NUM,
                "vat_rate_percent": NUM,
                "total": MONEY,
            },
            {"payment_method": enum("bank_transfer", "card", "cash", "cheque", "other"), "iban": STR},
        ),
        {
            "invoice_number": "55-781",
            "issue_date": "2023-11-14",
            "seller.address.city": "Frankfurt am Main",
            "line_items.0.quantity": 12,
            "line_items.0.unit_price": 85.0,
            "vat_rate_percent": 19,
            "total.amount": 1499.40,
            "total.currency": "EUR",
            "payment_method": "bank_transfer",
        },
    ),
    Case(
        "receipt-01",
        "Corner Bean Café — 2024-06-18 08:42. 1 Oat latte 4.75, 2 Croissant 3.20 each, 1 Orange juice "
        "3.95. Subtotal 15.10, tip 2.00, total 17.10 GBP. Paid by Visa ending 4412. Thank you!",
        obj(
            {
                "merchant": STR,
                "purchased_at": DATETIME,
                "items": arr(obj({"name": STR, "quantity": INT, "price": NUM})),
                "total": NUM,
                "currency": enum("USD", "EUR", "GBP"),
            },
            {"tip": NUM, "payment": obj({"method": enum("card", "cash", "mobile")}, {"last4": STR})},
        ),
        {
            "merchant": "Corner Bean Café",
            "items.1.name": "Croissant",
            "items.1.quantity": 2,
            "tip": 2.0,
            "total": 17.10,
            "currency": "GBP",
            "payment.last4": "4412",
        },
    ),
    Case(
        "address-01",
        "Please ship the replacement part to Dr. Amara Okafor, Suite 300, 1200 Lakeshore Drive, Chicago, "
        "IL 60610, United States. She prefers to be reached at amara.okafor@northmed.org.",
        obj(
            {"recipient": STR, "address": ADDRESS},
            {"email": EMAIL, "address_type": enum("residential", "business", "po_box")},
        ),
        {
            "address.city": "Chicago",
            "address.postal_code": "60610",
            "address.region": "IL",
            "email": "amara.okafor@northmed.org",
        },
    ),
    Case(
        "address-02",
        "Our new office address from 1 September: Nordic Pixel AB, Sveavägen 44, 111 34 Stockholm, "
        "Sweden. Deliveries go through the loading dock on Kungsgatan; the old Gothenburg address is closed.",
        obj(
            {"company": STR, "address": ADDRESS},
            {"effective_from": STR, "delivery_notes": STR},
        ),
        {"company": "Nordic Pixel AB", "address.street": "Sveavägen 44", "address.country": "Sweden"},
    ),
    Case(
        "contact-01",
        "Hi, I'm Priya Raman, head of procurement at Tessellate Robotics. You can email me at "
        "priya.raman@tessellate.io or call +1 415 555 0142. Our site is https://tessellate.io. My assistant, "
        "Leo Martin (leo.martin@tessellate.io), handles scheduling.",
        obj(
            {
                "name": STR,
                "company": STR,
                "email": EMAIL,
                "contacts": arr(obj({"name": STR, "role": STR}, {"email": EMAIL})),
            },
            {"title": STR, "phone": STR, "website": URI},
        ),
        {
            "name": "Priya Raman",
            "company": "Tessellate Robotics",
            "email": "priya.raman@tessellate.io",
            "website": "https://tessellate.io",
            "contacts.0.name": "Leo Martin",
        },
    ),
    Case(
        "contact-02",
        "Business card: Marco Bellini — Senior Architect, Studio Forma, Via Tortona 27, 20144 Milano, "
        "Italy. m.bellini@studioforma.it · +39 02 5555 8123 · www.studioforma.it",
        obj(
            {"person": PERSON, "company": obj({"name": STR}, {"address": ADDRESS, "website": STR})},
            {"job_title": STR},
        ),
        {
            "person.name": "Marco Bellini",
            "person.email": "m.bellini@studioforma.it",
            "job_title": "Senior Architect",
        },
    ),
    Case(
        "event-01",
        "You're invited: Quarterly Planning Review on Tuesday, May 14, 2024 from 10:00 to 11:30 (UTC), "
        "room 4B and on https://meet.example.com/qpr-q2. Organiser: Hannah Lee (hannah.lee@example.com). "
        "Attendees: Raj Patel (required), Sofia Cruz (optional).",
        obj(
            {
                "title": STR,
                "start": DATETIME,
                "end": DATETIME,
                "organizer": PERSON,
                "attendees": arr(obj({"name": STR, "attendance": enum("required", "optional")})),
            },
            {"location": STR, "meeting_url": URI},
        ),
        {
            "title": "Quarterly Planning Review",
            "organizer.email": "hannah.lee@example.com",
            "attendees.0.name": "Raj Patel",
            "attendees.1.attendance": "optional",
            "meeting_url": "https://meet.example.com/qpr-q2",
        },
    ),
    Case(
        "event-02",
        "Jazz at the Riverside returns! Saturday 20 July 2024, doors 18:30, music 19:00–23:00. Lineup: "
        "The Blue Notes Trio, Ella Moreno Quartet. Tickets €25 (early bird €18 until 30 June). "
        "Riverside Park Amphitheatre, Ghent, Belgium. All ages.",
        obj(
            {
                "name": STR,
                "date": DATE,
                "venue": obj({"name": STR}, {"city": STR, "country": STR}),
                "performers": arr(STR),
                "tickets": arr(obj({"type": STR, "price": NUM}, {"valid_until": DATE})),
            },
            {"doors_open": TIME, "age_restriction": enum("all_ages", "18_plus", "21_plus")},
        ),
        {
            "date": "2024-07-20",
            "venue.city": "Ghent",
            "performers": ["The Blue Notes Trio", "Ella Moreno Quartet"],
            "age_restriction": "all_ages",
        },
    ),
    Case(
        "event-03",
        "Reminder: Dr. Chen's dental cleaning is moved to Thursday 2024-02-08 at 3:15 pm. Please arrive "
        "10 minutes early. Reply C to confirm or R to reschedule.",
        obj(
            {"appointment_type": STR, "date": DATE, "status": enum("scheduled", "rescheduled", "cancelled")},
            {"time": STR, "provider": STR, "arrive_early_minutes": INT},
        ),
        {"date": "2024-02-08", "status": "rescheduled", "arrive_early_minutes": 10},
    ),
    Case(
        "product-01",
        "Aurora X2 Wireless Headphones — $149.99 (was $199.99). Colours: Midnight Black, Arctic White. "
        "40-hour battery, Bluetooth 5.3, active noise cancelling. In stock: ships in 1-2 business days. "
        "Rated 4.6/5 from 2,318 reviews.",
        obj(
            {
                "name": STR,
                "price": MONEY,
                "availability": enum("in_stock", "out_of_stock", "preorder", "discontinued"),
                "variants": arr(obj({"color": STR})),
            },
            {
                "list_price": NUM,
                "features": arr(STR),
                "rating": obj({"average": NUM, "count": INT}),
            },
        ),
        {
            "price.amount": 149.99,
            "list_price": 199.99,
            "availability": "in_stock",
            "rating.average": 4.6,
            "rating.count": 2318,
        },
    ),
    Case(
        "product-02",
        "FOR SALE: 2016 Trek Domane SL5 road bike, 56 cm frame, carbon, Shimano 105 groupset. Lightly used, "
        "about 3,000 km. Asking CAD 1,450, firm. Pickup only in Toronto. Contact via the listing.",
        obj(
            {
                "item": STR,
                "condition": enum("new", "like_new", "used", "for_parts"),
                "price": MONEY,
                "specs": obj({"brand": STR}, {"model": STR, "year": INT, "frame_size_cm": NUM}),
            },
            {"negotiable": BOOL, "location": STR, "delivery": enum("pickup_only", "shipping", "both")},
        ),
        {
            "price.amount": 1450,
            "price.currency": "CAD",
            "specs.brand": "Trek",
            "specs.year": 2016,
            "negotiable": False,
            "delivery": "pickup_only",
        },
    ),
    Case(
        "product-03",
        "Catalogue update: SKU KT-8821 'Cast iron skillet 26 cm' now 39.90 EUR, weight 2.4 kg, "
        "category Kitchen > Cookware. SKU KT-8822 'Cast iron skillet 30 cm' 49.90 EUR, 3.1 kg, same "
        "category. Both dishwasher-unsafe; lifetime warranty.",
        obj(
            {
                "products": arr(
                    obj(
                        {"sku": STR, "name": STR, "price": NUM},
                        {"weight_kg": NUM, "category_path": arr(STR)},
                    ),
                    minItems=1,
                )
            },
            {"currency": enum("EUR", "USD", "GBP"), "warranty": STR},
        ),
        {
            "products.0.sku": "KT-8821",
            "products.1.sku": "KT-8822",
            "products.1.price": 49.90,
            "products.0.weight_kg": 2.4,
            "currency": "EUR",
        },
    ),
    Case(
        "job-01",
        "Senior Backend Engineer (Go) — Finch Payments, Berlin or remote within the EU. Full-time, "
        "€85,000–€105,000 per year. 5+ years building distributed systems; Kubernetes and PostgreSQL a "
        "must, Kafka a plus. Apply by 31 January 2025 at https://finch.jobs/backend-senior.",
        obj(
            {
                "title": STR,
                "company": STR,
                "employment_type": enum("full_time", "part_time", "contract", "internship"),
                "remote": enum("onsite", "hybrid", "remote"),
                "salary": obj(
                    {
                        "min": NUM,
                        "max": NUM,
                        "currency": enum("EUR", "USD", "GBP"),
                        "period": enum("year", "month", "hour"),
                    }
                ),
                "skills": arr(obj({"name": STR, "level": enum("required", "nice_to_have")})),
            },
            {"min_years_experience": INT, "apply_by": DATE, "apply_url": URI, "locations": arr(STR)},
        ),
        {
            "company": "Finch Payments",
            "employment_type": "full_time",
            "salary.min": 85000,
            "salary.max": 105000,
            "salary.currency": "EUR",
            "min_years_experience": 5,
            "apply_by": "2025-01-31",
        },
    ),
    Case(
        "job-02",
        "Part-time barista wanted at Sunny Side Coffee, 88 Elm St, Austin TX. $17/hour plus tips, "
        "weekend mornings, no experience needed — we train. Drop in with your CV or email "
        "jobs@sunnysidecoffee.com.",
        obj(
            {
                "title": STR,
                "employer": STR,
                "employment_type": enum("full_time", "part_time", "contract", "internship"),
                "pay": obj({"amount": NUM, "period": enum("hour", "month", "year")}),
            },
            {"experience_required": BOOL, "contact_email": EMAIL, "schedule": STR},
        ),
        {
            "employment_type": "part_time",
            "pay.amount": 17,
            "pay.period": "hour",
            "experience_required": False,
            "contact_email": "jobs@sunnysidecoffee.com",
        },
    ),
    Case(
        "medical-01",
        "Patient: Jonas Weber, born 12 August 1961, male. Presents with chest tightness on exertion for two "
        "weeks. BP 148/92, pulse 88. Current meds: Atorvastatin 20 mg once daily, Metformin 500 mg twice "
        "daily. Allergies: penicillin (rash). Plan: ECG and stress test; follow-up in 2 weeks.",
        obj(
            {
                "patient": obj(
                    {"name": STR, "date_of_birth": DATE}, {"sex": enum("male", "female", "other")}
                ),
                "medications": arr(
                    obj(
                        {"name": STR, "dose_mg": NUM},
                        {"frequency": enum("once_daily", "twice_daily", "three_times_daily", "as_needed")},
                    )
                ),
                "allergies": arr(obj({"substance": STR}, {"reaction": STR})),
            },
            {
                "vitals": obj({}, {"systolic": INT, "diastolic": INT, "pulse": INT}),
                "chief_complaint": STR,
                "follow_up_weeks": INT,
            },
        ),
        {
            "patient.date_of_birth": "1961-08-12",
            "patient.sex": "male",
            "medications.0.name": "Atorvastatin",
            "medications.0.dose_mg": 20,
            "medications.1.frequency": "twice_daily",
            "allergies.0.substance": "penicillin",
            "vitals.systolic": 148,
            "follow_up_weeks": 2,
        },
    ),
    Case(
        "medical-02",
        "Vaccination record — Lucía Fernández (DOB 2019-04-02). MMR dose 1 given 2020-04-10 at Clínica "
        "Norte; DTaP dose 4 given 2020-07-15; MMR dose 2 due 2023-04-02. No adverse reactions reported.",
        obj(
            {
                "patient_name": STR,
                "date_of_birth": DATE,
                "doses": arr(
                    obj(
                        {"vaccine": STR, "dose_number": INT, "status": enum("given", "due")},
                        {"date": DATE, "clinic": STR},
                    )
                ),
            },
            {"adverse_reactions": BOOL},
        ),
        {
            "date_of_birth": "2019-04-02",
            "doses.0.vaccine": "MMR",
            "doses.1.dose_number": 4,
            "doses.2.status": "due",
            "adverse_reactions": False,
        },
    ),
    Case(
        "shipping-01",
        "Your parcel 1Z999AA10123456784 shipped via UPS Ground on 2024-09-02 from Memphis, TN. Estimated "
        "delivery: 2024-09-05. Contents: 2 boxes, total 7.8 kg. Signature required on delivery.",
        obj(
            {
                "tracking_number": STR,
                "carrier": enum("UPS", "FedEx", "DHL", "USPS", "other"),
                "shipped_on": DATE,
                "packages": obj({"count": INT}, {"total_weight_kg": NUM}),
            },
            {"service": STR, "estimated_delivery": DATE, "signature_required": BOOL, "origin": STR},
        ),
        {
            "tracking_number": "1Z999AA10123456784",
            "carrier": "UPS",
            "estimated_delivery": "2024-09-05",
            "packages.count": 2,
            "signature_required": True,
        },
    ),
    Case(
        "shipping-02",
        "Bill of lading BL-77120. Shipper: Hanjin Textiles, Busan, South Korea. Consignee: Lagos Fabrics "
        "Ltd, Apapa, Lagos, Nigeria. 2 x 40ft containers (MSKU1234565, MSKU7654321), 18,400 kg gross. "
        "Vessel MV Ocean Pearl, ETD 2024-10-01, ETA 2024-11-12. Incoterm: CIF.",
        obj(
            {
                "bill_of_lading": STR,
                "shipper": obj({"name": STR}, {"city": STR, "country": STR}),
                "consignee": obj({"name": STR}, {"city": STR, "country": STR}),
                "containers": arr(obj({"number": STR, "size": enum("20ft", "40ft", "45ft")})),
                "incoterm": enum("EXW", "FOB", "CIF", "DAP", "DDP"),
            },
            {"vessel": STR, "etd": DATE, "eta": DATE, "gross_weight_kg": NUM},
        ),
        None,
    ),
    Case(
        "recipe-01",
        "Lemon garlic pasta (serves 4, 25 minutes). Boil 400 g spaghetti. Meanwhile warm 4 tbsp olive oil "
        "with 3 cloves garlic, sliced; add zest and juice of 1 lemon. Toss with the pasta, 50 g parmesan "
        "and a handful of parsley. Vegetarian.",
        obj(
            {
                "title": STR,
                "servings": INT,
                "ingredients": arr(obj({"name": STR}, {"quantity": NUM, "unit": STR})),
                "steps": arr(STR),
            },
            {"total_minutes": INT, "diet": arr(enum("vegetarian", "vegan", "gluten_free", "dairy_free"))},
        ),
        {"servings": 4, "total_minutes": 25, "ingredients.0.quantity": 400, "ingredients.0.unit": "g"},
    ),
    Case(
        "recipe-02",
        "Overnight oats: combine 1/2 cup rolled oats, 1/2 cup almond milk, 1 tbsp chia seeds and 1 tsp "
        "maple syrup in a jar. Refrigerate at least 6 hours. Top with berries. Vegan, makes 1 serving.",
        obj(
            {
                "name": STR,
                "ingredients": arr(obj({"item": STR, "amount": STR})),
                "difficulty": enum("easy", "medium", "hard"),
            },
            {"servings": INT, "chill_hours": NUM, "tags": arr(STR)},
        ),
        None,
    ),
    Case(
        "flight-01",
        "Booking confirmed — ref QX7P2L. Passenger: MS ANNA KOWALSKI. LO 281 Warsaw (WAW) to Seoul (ICN), "
        "departs 2024-12-03 21:40, arrives 2024-12-04 15:05 local. Economy, seat 34C, 1 checked bag 23 kg. "
        "Return LO 282 ICN–WAW on 2024-12-19.",
        obj(
            {
                "booking_reference": STR,
                "passengers": arr(obj({"name": STR}, {"seat": STR})),
                "segments": arr(
                    obj(
                        {"flight_number": STR, "from": STR, "to": STR, "date": DATE},
                        {
                            "departure_time": STR,
                            "cabin": enum("economy", "premium_economy", "business", "first"),
                        },
                    ),
                    minItems=1,
                ),
            },
            {"checked_bags": INT},
        ),
        {
            "booking_reference": "QX7P2L",
            "segments.0.flight_number": "LO 281",
            "segments.0.from": "WAW",
            "segments.0.to": "ICN",
            "segments.0.date": "2024-12-03",
            "segments.1.date": "2024-12-19",
            "checked_bags": 1,
        },
    ),
    Case(
        "flight-02",
        "Hi, I need two one-way tickets from Boston to Denver on March 22nd 2025, morning if possible, "
        "business class. Passengers: Grace Liu and Tom Liu (a child, age 9). Budget around $1,200 total.",
        obj(
            {
                "trip_type": enum("one_way", "round_trip", "multi_city"),
                "origin": STR,
                "destination": STR,
                "departure_date": DATE,
                "passengers": arr(obj({"name": STR, "type": enum("adult", "child", "infant")})),
            },
            {
                "cabin": enum("economy", "premium_economy", "business", "first"),
                "time_preference": enum("morning", "afternoon", "evening", "any"),
                "budget_usd": NUM,
            },
        ),
        {
            "trip_type": "one_way",
            "destination": "Denver",
            "departure_date": "2025-03-22",
            "passengers.1.type": "child",
            "cabin": "business",
            "time_preference": "morning",
        },
    ),
    Case(
        "ticket-01",
        "Subject: Can't log in since this morning!! — I've been locked out of my account (user id 88213) "
        "since about 7am. Reset emails never arrive at kim.nguyen@mailbox.org. This is blocking payroll for "
        "our whole team, please help ASAP. — Kim",
        obj(
            {
                "summary": STR,
                "category": enum("billing", "login", "bug", "feature_request", "other"),
                "priority": enum("low", "normal", "high", "urgent"),
                "customer": obj({"name": STR}, {"email": EMAIL, "account_id": STR}),
            },
            {"sentiment": enum("positive", "neutral", "negative")},
        ),
        {
            "category": "login",
            "customer.email": "kim.nguyen@mailbox.org",
            "customer.account_id": "88213",
            "sentiment": "negative",
        },
    ),
    Case(
        "ticket-02",
        "Order #A-55102 arrived with the glass top of the coffee table cracked. Photos attached. I'd like a "
        "replacement rather than a refund. Delivered 2024-05-09 to 14 Rue Lafayette, Lyon. — Camille Girard",
        obj(
            {
                "order_id": STR,
                "issue": enum("damaged", "missing_item", "wrong_item", "late", "other"),
                "requested_resolution": enum("refund", "replacement", "repair", "none"),
            },
            {"delivered_on": DATE, "attachments": BOOL, "customer_name": STR},
        ),
        {
            "order_id": "A-55102",
            "issue": "damaged",
            "requested_resolution": "replacement",
            "delivered_on": "2024-05-09",
        },
    ),
    Case(
        "ticket-03",
        "Feature idea: it would be great if the mobile app supported dark mode and let us export reports "
        "to CSV. Not urgent, just nice to have. Love the product otherwise! (Android 14, app v3.2.1)",
        obj(
            {
                "type": enum("bug", "feature_request", "question", "complaint"),
                "requests": arr(obj({"title": STR}, {"area": enum("mobile", "web", "api", "reports")})),
                "priority": enum("low", "normal", "high", "urgent"),
            },
            {"platform": obj({"os": STR}, {"os_version": STR, "app_version": STR})},
        ),
        {"type": "feature_request", "priority": "low", "platform.app_version": "3.2.1"},
    ),
    Case(
        "realestate-01",
        "For rent: bright 2-bedroom apartment, 78 m², 3rd floor with lift, Prenzlauer Berg, Berlin. "
        "€1,650 per month warm, deposit three months' rent. Available from 1 March 2025. Pets allowed, "
        "no smoking. Viewing: call Herr Schmidt.",
        obj(
            {
                "listing_type": enum("rent", "sale"),
                "property": obj({"bedrooms": INT, "area_m2": NUM}, {"floor": INT, "elevator": BOOL}),
                "price": obj({"amount": NUM, "period": enum("month", "week", "once")}),
            },
            {"available_from": DATE, "pets_allowed": BOOL, "smoking_allowed": BOOL, "neighbourhood": STR},
        ),
        {
            "listing_type": "rent",
            "property.bedrooms": 2,
            "property.area_m2": 78,
            "price.amount": 1650,
            "available_from": "2025-03-01",
            "pets_allowed": True,
        },
    ),
    Case(
        "hotel-01",
        "Reservation 40391 at Hotel Miramar, Lisbon: 2 nights, check-in Fri 2024-08-16 (from 15:00), "
        "check-out 2024-08-18 (by 11:00). 1 Deluxe double room, 2 adults, breakfast included. Total "
        "€412.00, free cancellation until 2024-08-14.",
        obj(
            {
                "confirmation": STR,
                "hotel": obj({"name": STR}, {"city": STR}),
                "check_in": DATE,
                "check_out": DATE,
                "rooms": arr(
                    obj(
                        {"type": STR, "guests": INT},
                        {"board": enum("room_only", "breakfast", "half_board", "full_board")},
                    )
                ),
            },
            {"total": MONEY, "free_cancellation_until": DATE},
        ),
        {
            "confirmation": "40391",
            "check_in": "2024-08-16",
            "check_out": "2024-08-18",
            "rooms.0.guests": 2,
            "rooms.0.board": "breakfast",
            "total.amount": 412.0,
        },
    ),
    Case(
        "bank-01",
        "Transfer of USD 2,500.00 to Jade Li (account ending 7781, Chase) scheduled for 2024-11-01. "
        "Reference: 'November rent'. Fee USD 0.00. Recurring monthly until cancelled.",
        obj(
            {
                "amount": MONEY,
                "beneficiary": obj({"name": STR}, {"account_last4": STR, "bank": STR}),
                "execution_date": DATE,
                "recurrence": enum("none", "weekly", "monthly", "yearly"),
            },
            {"reference": STR, "fee": NUM},
        ),
        {
            "amount.amount": 2500,
            "beneficiary.account_last4": "7781",
            "execution_date": "2024-11-01",
            "recurrence": "monthly",
            "reference": "November rent",
        },
    ),
    Case(
        "resume-01",
        "Aisha Bello — aisha.bello@protonmail.com — Lagos, Nigeria. Data analyst at Paystack (2021–present): "
        "built fraud dashboards in SQL and Looker. Junior analyst at Andela (2019–2021). BSc Statistics, "
        "University of Ibadan, 2018. Skills: SQL, Python, Tableau. Languages: English (native), French (B2).",
        obj(
            {
                "name": STR,
                "email": EMAIL,
                "experience": arr(
                    obj({"title": STR, "company": STR, "start_year": INT}, {"end_year": INT, "current": BOOL})
                ),
                "education": arr(obj({"degree": STR, "institution": STR}, {"year": INT})),
            },
            {
                "skills": arr(STR),
                "languages": arr(
                    obj({"language": STR, "level": enum("native", "C2", "C1", "B2", "B1", "A2", "A1")})
                ),
            },
        ),
        {
            "email": "aisha.bello@protonmail.com",
            "experience.0.company": "Paystack",
            "experience.0.start_year": 2021,
            "experience.1.end_year": 2021,
            "education.0.year": 2018,
            "languages.1.level": "B2",
        },
    ),
    Case(
        "meeting-01",
        "Minutes, 2024-04-11 product sync. Present: Omar, Ines, Kai. Decisions: ship v2.4 on April 25; "
        "drop the legacy exporter. Action items: Omar to update the release notes by 2024-04-18; Ines to "
        "run the load test (high priority); Kai to email the partners.",
        obj(
            {
                "date": DATE,
                "attendees": arr(STR),
                "decisions": arr(STR),
                "action_items": arr(
                    obj({"owner": STR, "task": STR}, {"due": DATE, "priority": enum("low", "normal", "high")})
                ),
            }
        ),
        {
            "date": "2024-04-11",
            "attendees": ["Omar", "Ines", "Kai"],
            "action_items.0.owner": "Omar",
            "action_items.0.due": "2024-04-18",
            "action_items.1.priority": "high",
        },
    ),
    Case(
        "car-01",
        "Service record: 2019 Toyota Corolla Hybrid, VIN JTDB4RBE9K3012345, odometer 64,210 km. Work done "
        "2024-03-27 at QuickFix Auto: oil and filter change (CAD 89.99), rear brake pads (CAD 240.00). Next "
        "service due at 74,000 km.",
        obj(
            {
                "vehicle": obj({"make": STR, "model": STR, "year": INT}, {"vin": STR}),
                "odometer_km": INT,
                "date": DATE,
                "jobs": arr(obj({"description": STR, "cost": NUM})),
            },
            {"shop": STR, "next_service_km": INT},
        ),
        {
            "vehicle.make": "Toyota",
            "vehicle.year": 2019,
            "odometer_km": 64210,
            "jobs.1.cost": 240.0,
            "next_service_km": 74000,
        },
    ),
    Case(
        "news-01",
        "GENEVA, 3 June 2024 (Reuters) — The World Health Organization said on Monday that member states "
        "had agreed to amend the International Health Regulations, after two years of talks. "
        "Director-General Tedros Adhanom Ghebreyesus called it 'a historic decision'.",
        obj(
            {
                "headline": STR,
                "dateline": obj({"city": STR, "date": DATE}),
                "entities": arr(obj({"name": STR, "type": enum("person", "organization", "location")})),
            },
            {"source": STR, "quotes": arr(obj({"speaker": STR, "text": STR}))},
        ),
        {"dateline.city": "Geneva", "dateline.date": "2024-06-03", "source": "Reuters"},
    ),
    Case(
        "review-01",
        "Stayed three nights in March. The room was spotless and the staff lovely, but the Wi-Fi kept "
        "dropping and breakfast was overpriced. 3 out of 5. Would come back for the location.",
        obj(
            {
                "rating": INT,
                "aspects": arr(obj({"aspect": STR, "sentiment": enum("positive", "negative", "neutral")})),
                "would_return": BOOL,
            },
            {"stay_nights": INT},
        ),
        {"rating": 3, "would_return": True, "stay_nights": 3},
    ),
    Case(
        "insurance-01",
        "Claim report: policy HOME-448812, claimant Peter Novak. On 2024-01-19 a burst pipe flooded the "
        "kitchen. Damaged: laminate floor (est. $3,200), dishwasher (est. $650). Plumber invoice attached. "
        "No injuries.",
        obj(
            {
                "policy_number": STR,
                "claimant": STR,
                "incident": obj({"date": DATE, "type": enum("water", "fire", "theft", "storm", "other")}),
                "damaged_items": arr(obj({"item": STR, "estimated_cost": NUM})),
            },
            {"injuries": BOOL, "documents": arr(STR)},
        ),
        {
            "policy_number": "HOME-448812",
            "incident.date": "2024-01-19",
            "incident.type": "water",
            "damaged_items.0.estimated_cost": 3200,
            "injuries": False,
        },
    ),
    Case(
        "course-01",
        "Intro to Machine Learning (CS 229A), Fall 2024. Instructor: Prof. Dana Ortiz, dortiz@univ.edu. "
        "Lectures Mon/Wed 14:00–15:20 in Hall B. Grading: homework 40%, midterm 25%, final project 35%. "
        "Prerequisites: linear algebra, probability.",
        obj(
            {
                "title": STR,
                "code": STR,
                "term": obj({"season": enum("spring", "summer", "fall", "winter"), "year": INT}),
                "grading": arr(obj({"component": STR, "weight_percent": NUM})),
            },
            {
                "instructor": PERSON,
                "meeting_days": arr(enum("mon", "tue", "wed", "thu", "fri", "sat", "sun")),
                "prerequisites": arr(STR),
            },
        ),
        {
            "code": "CS 229A",
            "term.season": "fall",
            "term.year": 2024,
            "grading.0.weight_percent": 40,
            "instructor.email": "dortiz@univ.edu",
        },
    ),
    Case(
        "order-01",
        "Order confirmation #100-4471 (placed 2024-07-02 14:12 UTC). Ship to: Noah Fischer, 9 Birch Lane, "
        "Leeds LS6 2AB, UK. Items: USB-C hub x1 £34.99; HDMI cable 2 m x2 £7.50. Delivery: standard (3-5 "
        "days), free. Paid with PayPal.",
        obj(
            {
                "order_id": STR,
                "placed_at": DATETIME,
                "ship_to": obj({"name": STR, "address": ADDRESS}),
                "items": arr(obj({"name": STR, "quantity": INT, "unit_price": NUM})),
            },
            {
                "shipping_method": enum("standard", "express", "pickup"),
                "payment_method": enum("card", "paypal", "bank_transfer", "cash_on_delivery"),
            },
        ),
        {
            "order_id": "100-4471",
            "ship_to.address.postal_code": "LS6 2AB",
            "items.1.quantity": 2,
            "items.1.unit_price": 7.50,
            "shipping_method": "standard",
            "payment_method": "paypal",
        },
    ),
    Case(
        "subscription-01",
        "Your StreamBox Premium plan renews on 2025-02-10 for $15.49/month. Up to 4 screens, 4K included. "
        "You can cancel anytime at https://streambox.tv/account. Billing email: r.owens@fastmail.com.",
        obj(
            {
                "service": STR,
                "plan": enum("basic", "standard", "premium"),
                "price": obj({"amount": NUM, "interval": enum("month", "year")}),
                "renews_on": DATE,
            },
            {"max_screens": INT, "manage_url": URI, "billing_email": EMAIL},
        ),
        {"plan": "premium", "price.amount": 15.49, "renews_on": "2025-02-10", "max_screens": 4},
    ),
    Case(
        "pet-01",
        "Lost dog! Biscuit, a 3-year-old male beagle, brown and white, microchipped, wearing a red collar. "
        "Last seen 2024-10-05 near Greenfield Park. If found please call Maya on 555-0199.",
        obj(
            {
                "status": enum("lost", "found", "adoptable"),
                "animal": obj(
                    {"species": enum("dog", "cat", "bird", "other"), "name": STR},
                    {"breed": STR, "age_years": NUM, "sex": enum("male", "female")},
                ),
                "last_seen": obj({"date": DATE}, {"place": STR}),
            },
            {"microchipped": BOOL, "contact": PERSON},
        ),
        {"status": "lost", "animal.breed": "beagle", "animal.age_years": 3, "last_seen.date": "2024-10-05"},
    ),
    Case(
        "conference-01",
        "PyData Amsterdam 2024 call for proposals: talks (30 min) and tutorials (90 min). Submission "
        "deadline 2024-04-15 23:59 CET. Conference 2024-09-18 to 2024-09-20 at Zuiderstrandtheater. "
        "Topics: MLOps, data engineering, LLMs. Submit at https://amsterdam.pydata.org/cfp.",
        obj(
            {
                "event": STR,
                "start_date": DATE,
                "end_date": DATE,
                "session_types": arr(
                    obj({"type": enum("talk", "tutorial", "keynote", "workshop"), "minutes": INT})
                ),
            },
            {"cfp_deadline": DATE, "venue": STR, "topics": arr(STR), "submission_url": URI},
        ),
        None,
    ),
    Case(
        "lease-01",
        "This lease between Oakridge Properties (landlord) and Daniel Kim (tenant) for Unit 5B, 220 Pine "
        "Street, Seattle, WA 98101 runs from 2024-06-01 to 2025-05-31. Monthly rent $2,150 due on the 1st; "
        "security deposit $2,150. Utilities: water included, electricity paid by tenant.",
        obj(
            {
                "parties": arr(
                    obj({"name": STR, "role": enum("landlord", "tenant", "guarantor")}), minItems=2
                ),
                "premises": ADDRESS,
                "term": obj({"start": DATE, "end": DATE}),
                "rent": obj({"amount": NUM, "due_day": INT}),
            },
            {"deposit": NUM, "utilities": arr(obj({"utility": STR, "paid_by": enum("landlord", "tenant")}))},
        ),
        None,
    ),
    Case(
        "weather-01",
        "Met Office warning: yellow warning of wind for Cornwall and Devon from 06:00 Sunday 2024-12-08 "
        "until 18:00 the same day. Gusts 60–70 mph on coasts. Travel disruption likely.",
        obj(
            {
                "issuer": STR,
                "level": enum("yellow", "amber", "red"),
                "hazard": enum("wind", "rain", "snow", "ice", "heat", "fog"),
                "areas": arr(STR),
            },
            {"valid_from": DATETIME, "valid_to": DATETIME, "max_gust_mph": NUM, "impacts": arr(STR)},
        ),
        None,
    ),
    Case(
        "prescription-01",
        "Rx: Amoxicillin 500 mg capsules, take 1 capsule three times daily for 7 days. Qty 21, no refills. "
        "Prescriber: Dr. L. Haddad, NPI 1234567893. Patient: Sara Molina. Date 2024-03-02.",
        obj(
            {
                "drug": obj(
                    {
                        "name": STR,
                        "strength_mg": NUM,
                        "form": enum("tablet", "capsule", "liquid", "injection"),
                    }
                ),
                "sig": obj({"dose": INT, "frequency_per_day": INT}, {"days": INT}),
                "quantity": INT,
            },
            {"refills": INT, "prescriber": obj({"name": STR}, {"npi": STR}), "patient": STR, "date": DATE},
        ),
        None,
    ),
    Case(
        "property-tax-01",
        "Assessment notice 2025 — parcel 041-220-17, owner Rivera Family Trust. Land $180,000, improvements "
        "$412,500, total assessed $592,500. Appeals must be filed by 2025-05-15 at "
        "https://assessor.county.gov/appeals.",
        obj(
            {
                "parcel_id": STR,
                "owner": STR,
                "values": obj({"land": NUM, "improvements": NUM, "total": NUM}),
            },
            {"year": INT, "appeal_deadline": DATE, "appeal_url": URI},
        ),
        None,
    ),
    Case(
        "volunteer-01",
        "Beach clean-up signups: Saturday 2024-06-08, 09:00–12:00 at North Beach. Shifts: morning setup (2 "
        "people, 08:30), litter pick (20 people), sorting (4 people). Gloves provided; bring water. "
        "Contact beachclean@citygreen.org.",
        obj(
            {
                "event": STR,
                "date": DATE,
                "roles": arr(obj({"name": STR, "slots": INT}, {"start_time": STR})),
            },
            {"location": STR, "contact_email": EMAIL, "bring": arr(STR)},
        ),
        None,
    ),
    Case(
        "utility-bill-01",
        "Electricity bill, account 5512-889-01, billing period 2024-08-01 to 2024-08-31. Usage 412 kWh "
        "(previous month 388 kWh). Energy charge $61.80, delivery $22.15, taxes $5.04. Amount due $89.99 by "
        "2024-09-20. Autopay: off.",
        obj(
            {
                "account_number": STR,
                "period": obj({"start": DATE, "end": DATE}),
                "usage_kwh": NUM,
                "charges": arr(obj({"label": STR, "amount": NUM})),
                "amount_due": NUM,
            },
            {"due_date": DATE, "autopay": BOOL},
        ),
        None,
    ),
    Case(
        "sports-01",
        "Final: Riverside Rovers 3–1 Kingsport United (HT 1–1). Goals: Adeyemi 12', 67'; Costa 80' for "
        "Rovers; Lindqvist 34' for United. Attendance 18,204. Red card: Murphy (United) 71'.",
        obj(
            {
                "home": obj({"team": STR, "score": INT}),
                "away": obj({"team": STR, "score": INT}),
                "goals": arr(obj({"player": STR, "minute": INT, "team": enum("home", "away")})),
            },
            {
                "attendance": INT,
                "cards": arr(obj({"player": STR, "type": enum("yellow", "red"), "minute": INT})),
            },
        ),
        None,
    ),
    Case(
        "library-01",
        "Loan receipt — Member 20077. 'The Left Hand of Darkness' by Ursula K. Le Guin, due 2024-11-02; "
        "'Sapiens' by Yuval Noah Harari, due 2024-11-02; DVD 'Spirited Away', due 2024-10-26. Fines owed: "
        "€0.60.",
        obj(
            {
                "member_id": STR,
                "loans": arr(
                    obj(
                        {"title": STR, "format": enum("book", "dvd", "audiobook", "magazine"), "due": DATE},
                        {"author": STR},
                    )
                ),
            },
            {"fines": NUM},
        ),
        None,
    ),
    Case(
        "gov-form-01",
        "Change of address request. Name: Hugo Lambert. Old address: 3 Rue des Lilas, 75020 Paris, France. "
        "New address: 17 Avenue Jean Jaurès, 69007 Lyon, France. Effective 2024-09-15. Notify: tax office, "
        "health insurer.",
        obj(
            {"name": STR, "old_address": ADDRESS, "new_address": ADDRESS, "effective_date": DATE},
            {"notify": arr(STR)},
        ),
        None,
    ),
    Case(
        "restaurant-01",
        "Table for 6 at Osteria Lupa, Friday 2024-11-29 at 19:30, under the name Becker. One guest is "
        "coeliac and one vegetarian. Outdoor seating if warm, otherwise inside. Phone 030 555 1290.",
        obj(
            {
                "restaurant": STR,
                "party_size": INT,
                "date": DATE,
                "time": STR,
                "name": STR,
            },
            {
                "dietary": arr(
                    obj(
                        {
                            "requirement": enum("gluten_free", "vegetarian", "vegan", "nut_allergy", "other"),
                            "guests": INT,
                        }
                    )
                ),
                "seating": enum("indoor", "outdoor", "no_preference"),
            },
        ),
        None,
    ),
    Case(
        "crm-01",
        "Call notes 2024-05-21 with Greenleaf Foods (lead). Spoke to Carla Diaz, ops manager, "
        "carla@greenleaf.com. They want 500 units/month of cold-chain sensors, budget ~$40k/year, decision "
        "by end of Q3. Competitor: SenseIQ. Next step: send proposal by 2024-05-28.",
        obj(
            {
                "account": obj({"name": STR, "stage": enum("lead", "qualified", "proposal", "won", "lost")}),
                "contacts": arr(obj({"name": STR}, {"role": STR, "email": EMAIL})),
                "next_steps": arr(obj({"action": STR}, {"due": DATE})),
            },
            {"annual_budget_usd": NUM, "competitors": arr(STR), "call_date": DATE},
        ),
        None,
    ),
    Case(
        "it-asset-01",
        "Asset tag IT-00931: Dell Latitude 5440 laptop, serial 7HX2Q93, assigned to Fatima Zahra "
        "(fatima.zahra@corp.example) on 2023-10-02. Warranty to 2026-10-01. OS Windows 11 Pro; 16 GB RAM, "
        "512 GB SSD. Status: in use.",
        obj(
            {
                "asset_tag": STR,
                "device": obj(
                    {
                        "type": enum("laptop", "desktop", "phone", "tablet", "monitor"),
                        "manufacturer": STR,
                        "model": STR,
                    }
                ),
                "status": enum("in_use", "in_stock", "repair", "retired"),
            },
            {
                "serial": STR,
                "assignee": PERSON,
                "assigned_on": DATE,
                "warranty_until": DATE,
                "specs": obj({}, {"os": STR, "ram_gb": INT, "storage_gb": INT}),
            },
        ),
        None,
    ),
    Case(
        "travel-itinerary-01",
        "Day 1 (2025-04-10): arrive Kyoto, check in at Ryokan Sakura. Day 2: Fushimi Inari at dawn, "
        "Nishiki Market lunch. Day 3: day trip to Nara by JR train, back by 18:00. Day 4: shinkansen to "
        "Tokyo, 2h15m.",
        obj(
            {
                "start_date": DATE,
                "days": arr(
                    obj(
                        {"day": INT, "activities": arr(STR)},
                        {"city": STR, "transport": enum("train", "plane", "bus", "car", "none")},
                    ),
                    minItems=1,
                ),
            },
            {"accommodation": STR},
        ),
        None,
    ),
    Case(
        "grant-01",
        "The Northern Arts Fund awards up to £15,000 to community projects in Yorkshire. Eligible: "
        "registered charities and CICs. Deadline 2024-08-30 at 12:00. Decisions announced in November. "
        "Guidance: https://northernarts.org.uk/fund.",
        obj(
            {
                "funder": STR,
                "max_award": MONEY,
                "eligible_applicants": arr(enum("charity", "cic", "individual", "company", "school")),
            },
            {"region": STR, "deadline": DATE, "guidance_url": URI},
        ),
        None,
    ),
    Case(
        "warranty-01",
        "Warranty registration: Bosch Serie 6 washing machine, model WAU28PH9GB, purchased 2024-02-14 from "
        "Currys for £649. Owner Emily Shaw, 22 Mill Road, Cambridge CB1 2AD, UK, emily.shaw@outlook.com. "
        "Extended to 5 years.",
        obj(
            {
                "product": obj({"brand": STR, "model": STR}, {"category": STR}),
                "purchase": obj({"date": DATE}, {"retailer": STR, "price": NUM}),
                "owner": obj({"name": STR}, {"address": ADDRESS, "email": EMAIL}),
            },
            {"warranty_years": INT},
        ),
        None,
    ),
    Case(
        "lab-result-01",
        "Lab report 2024-07-09 08:15, patient ID P-30418. Hemoglobin 13.2 g/dL (ref 13.5–17.5, LOW); "
        "WBC 6.8 x10^9/L (normal); Platelets 245 x10^9/L (normal); Ferritin 12 ng/mL (LOW).",
        obj(
            {
                "patient_id": STR,
                "collected_at": DATETIME,
                "results": arr(
                    obj(
                        {"test": STR, "value": NUM, "unit": STR, "flag": enum("low", "normal", "high")},
                        {"reference_range": STR},
                    )
                ),
            }
        ),
        None,
    ),
    Case(
        "moving-quote-01",
        "Moving quote Q-2291: from 45 Oak Ave, Denver, CO 80203, USA to 1100 Congress Ave, Austin, TX "
        "78701, USA on 2024-07-20. 2-bedroom home, approx. 900 cu ft. Packing service included. Estimate "
        "$3,480. Valid 14 days.",
        obj(
            {"quote_id": STR, "from": ADDRESS, "to": ADDRESS, "move_date": DATE, "estimate_usd": NUM},
            {
                "home_size": enum("studio", "1_bedroom", "2_bedroom", "3_bedroom", "house"),
                "services": arr(STR),
                "valid_days": INT,
            },
        ),
        None,
    ),
    Case(
        "podcast-01",
        "Episode 142 — 'Soil, Carbon and Farming' with guest Dr. Nia Brooks (soil scientist). Released "
        "2024-03-12, 58 minutes. Chapters: 00:00 intro, 04:30 what soil carbon is, 31:10 regenerative "
        "practices, 52:00 listener questions. Listen: https://pod.example.org/142",
        obj(
            {
                "episode_number": INT,
                "title": STR,
                "released": DATE,
                "chapters": arr(obj({"start": STR, "title": STR})),
            },
            {"guests": arr(obj({"name": STR}, {"role": STR})), "duration_minutes": INT, "url": URI},
        ),
        None,
    ),
    Case(
        "security-incident-01",
        "Incident SEC-2024-017: at 2024-09-12T03:14:00Z the WAF blocked 12,400 requests from 185.220.101.4 "
        "targeting /api/login (credential stuffing). No accounts compromised. Severity: medium. Owner: "
        "on-call SRE.",
        obj(
            {
                "incident_id": STR,
                "detected_at": DATETIME,
                "severity": enum("low", "medium", "high", "critical"),
                "indicators": arr(obj({"type": enum("ip", "domain", "url", "hash"), "value": STR})),
            },
            {"attack_type": STR, "accounts_compromised": BOOL, "blocked_requests": INT},
        ),
        None,
    ),
]
