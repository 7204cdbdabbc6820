"""Writes shop/seed.json and forum/seed.json: the deterministic data the local sites start from.

Run it only to change the seed on purpose (`python environments/web/make_seed.py`); the JSON files are
committed, the suite's tasks are computed from them, and `tests/benchmarks/test_localweb.py` checks that the
committed tasks still match. Everything comes from fixed lists and `random.Random(SEED)`.
"""

from __future__ import annotations

import json
import random
import re
from datetime import datetime, timedelta
from pathlib import Path

SEED = 20240601
HERE = Path(__file__).parent
FMT = "%Y-%m-%d %H:%M"

CATEGORIES = {
    "Kitchen & Dining": (
        (8, 120),
        [
            "Cast Iron Skillet 12 in",
            "Stainless Steel Chef's Knife",
            "Bamboo Cutting Board Set",
            "Ceramic Pour-Over Coffee Dripper",
            "Glass Food Storage Containers (10-Pack)",
            "Silicone Baking Mat Set",
            "Electric Gooseneck Kettle",
            "Enameled Dutch Oven 5.5 qt",
            "Digital Kitchen Scale",
            "Stoneware Dinner Plates (Set of 4)",
        ],
    ),
    "Electronics": (
        (15, 420),
        [
            "Wireless Noise-Cancelling Headphones",
            "Bluetooth Portable Speaker",
            "USB-C Charging Hub 7-in-1",
            "Mechanical Keyboard with Brown Switches",
            "Ergonomic Wireless Mouse",
            "27-inch 4K Monitor",
            "Smart LED Desk Lamp",
            "Portable Power Bank 20000mAh",
            "Noise-Isolating Earbuds",
            "HD Webcam 1080p",
        ],
    ),
    "Outdoor & Garden": (
        (9, 260),
        [
            "Two-Person Camping Tent",
            "Insulated Water Bottle 32 oz",
            "Folding Camp Chair",
            "LED Headlamp",
            "Raised Garden Bed Kit",
            "Stainless Steel Garden Trowel",
            "Hammock with Tree Straps",
            "Solar Pathway Lights (6-Pack)",
            "Hiking Daypack 24L",
            "Expandable Garden Hose 50 ft",
        ],
    ),
    "Books": (
        (7, 45),
        [
            "The Quiet Orchard (Paperback)",
            "A Field Guide to Northern Birds",
            "Learning Python the Practical Way",
            "The Lighthouse Keeper's Daughter",
            "Mountains of the Moon: A History",
            "Cooking with Seasonal Vegetables",
            "The Last Cartographer",
            "Mindful Mornings Journal",
            "Stars Above the Desert",
            "Beginner's Guide to Watercolor",
        ],
    ),
    "Toys & Games": (
        (10, 90),
        [
            "Wooden Building Blocks (100 Pieces)",
            "Strategy Board Game: Harbor Lights",
            "1000-Piece Jigsaw Puzzle: Alpine Lake",
            "Remote Control Race Car",
            "Plush Sea Turtle",
            "Magnetic Tiles Set",
            "Card Game: Midnight Market",
            "Kids' Science Experiment Kit",
            "Wooden Train Set",
            "Classic Chess Set",
        ],
    ),
    "Clothing": (
        (12, 160),
        [
            "Merino Wool Crew Socks (3-Pack)",
            "Waterproof Rain Jacket",
            "Organic Cotton T-Shirt",
            "Slim Fit Chino Pants",
            "Fleece Quarter-Zip Pullover",
            "Canvas Sneakers",
            "Knit Beanie",
            "Leather Belt",
            "Lightweight Down Vest",
            "Linen Button-Down Shirt",
        ],
    ),
    "Beauty & Health": (
        (6, 95),
        [
            "Unscented Moisturizing Cream",
            "Bamboo Toothbrush (4-Pack)",
            "Mineral Sunscreen SPF 50",
            "Lavender Bath Salts",
            "Electric Toothbrush",
            "Vitamin C Serum",
            "Shea Butter Lip Balm (3-Pack)",
            "Digital Thermometer",
            "Yoga Mat 6mm",
            "Aromatherapy Diffuser",
        ],
    ),
    "Office Supplies": (
        (4, 330),
        [
            "Spiral Notebook (5-Pack)",
            "Gel Ink Pens (12-Pack)",
            "Desk Organizer with Drawers",
            "Adjustable Laptop Stand",
            "Sticky Notes Cube",
            "Whiteboard 36 x 24 in",
            "Paper Shredder",
            "Ergonomic Office Chair",
            "Document Scanner",
            "Monthly Wall Calendar",
        ],
    ),
}

REVIEWERS = [
    "Priya",
    "Tom",
    "Grace",
    "Mateo",
    "Hannah",
    "Kenji",
    "Olivia",
    "Samuel",
    "Aisha",
    "Lucas",
    "Maya",
    "Noah",
    "Ingrid",
    "Ravi",
    "Chloe",
    "Diego",
    "Fatima",
    "Oscar",
    "Lena",
    "Marcus",
    "Yuki",
    "Beatriz",
    "Ethan",
    "Zara",
]
REVIEW_TITLES = {
    5: ["Absolutely love it", "Exceeded my expectations", "Best purchase this year", "Perfect"],
    4: ["Very good overall", "Solid choice", "Happy with it", "Good value"],
    3: ["It's okay", "Does the job", "Average quality", "Mixed feelings"],
    2: ["Disappointed", "Not as described", "Would not buy again"],
    1: ["Broke after a week", "Waste of money", "Terrible"],
}
REVIEW_TEXTS = {
    5: [
        "Great quality and arrived quickly. I would happily buy it again.",
        "Works exactly as described and feels built to last.",
        "My family uses it every day. Highly recommended.",
    ],
    4: [
        "Does what it should; a couple of small flaws but good for the price.",
        "Nice design and sturdy. Shipping took a little longer than expected.",
        "Good product, though the instructions could be clearer.",
    ],
    3: [
        "Fine for occasional use but nothing special.",
        "Quality is acceptable; I expected a bit more for the money.",
    ],
    2: [
        "The finish started to wear off after a few uses.",
        "Smaller than it looks in the pictures.",
    ],
    1: [
        "Stopped working almost immediately and support never answered.",
        "Arrived damaged and the replacement was no better.",
    ],
}

FORUMS = {
    "books": (
        "Books",
        "Talk about what you are reading, writing and recommending.",
        [
            "What book are you reading this week?",
            "Finally finished The Last Cartographer: thoughts",
            "Recommendations for short science fiction collections",
            "Is it worth rereading childhood favourites?",
            "Libraries vs. buying: where do you get your books?",
            "The best opening lines you have ever read",
        ],
    ),
    "cooking": (
        "Cooking",
        "Recipes, techniques and kitchen questions.",
        [
            "My grandmother's tomato sauce recipe",
            "How do you keep cast iron from rusting?",
            "Best knife for a beginner home cook",
            "Sourdough starter smells like acetone, help",
            "Weeknight dinners under 30 minutes",
            "Is an instant-read thermometer worth it?",
        ],
    ),
    "gardening": (
        "Gardening",
        "Vegetables, flowers, soil and everything that grows.",
        [
            "Tomatoes splitting after heavy rain",
            "First raised bed build: photos and lessons",
            "What to plant in partial shade?",
            "Composting in a small apartment",
            "Slugs ate all my lettuce overnight",
            "When should I prune my apple tree?",
        ],
    ),
    "technology": (
        "Technology",
        "Gadgets, software, home servers and tech support.",
        [
            "Mechanical keyboards: worth the hype?",
            "Self-hosting a photo library at home",
            "Which Linux distribution for an old laptop?",
            "USB-C hubs that actually work with monitors",
            "How do you back up your family photos?",
            "Noise-cancelling headphones for open offices",
        ],
    ),
    "movies": (
        "Movies",
        "Films old and new, directors, soundtracks and reviews.",
        [
            "Underrated films from the 1990s",
            "Directors who never made a bad movie",
            "Movies that are better than the book",
            "Favourite soundtrack of all time?",
            "Documentaries that changed your mind",
            "The most rewatchable comedy ever made",
        ],
    ),
    "travel": (
        "Travel",
        "Trips, routes, packing and places worth the journey.",
        [
            "Packing list for two weeks with only a carry-on",
            "Best time of year to visit Lisbon",
            "Night trains in Europe: tips and routes",
            "How do you deal with jet lag?",
            "Hidden gems in the Scottish Highlands",
            "Travel insurance: worth it or not?",
        ],
    ),
    "fitness": (
        "Fitness",
        "Running, lifting, stretching and staying healthy.",
        [
            "Couch to 5K, week 6 update",
            "How many rest days do you take?",
            "Home workout with just a yoga mat",
            "Protein intake for beginners",
            "Running shoes for flat feet",
            "Stretching routine before bed",
        ],
    ),
    "music": (
        "Music",
        "Albums, instruments, concerts and playlists.",
        [
            "Albums you can listen to start to finish",
            "Learning bass guitar at 40",
            "Vinyl vs. streaming: does it matter?",
            "Live concerts that blew you away",
            "Underrated bands from your hometown",
            "Music to focus while working",
        ],
    ),
}
FORUM_USERS = {
    "MarvelsGrantMan136": "Comic books, cooking and the occasional hike.",
    "bookworm_jane": "Librarian by day, reader by night.",
    "quietreader": "Mostly lurking. Sometimes posting.",
    "gardengnome42": "Allotment gardener since 2009.",
    "chef_antoine": "Line cook turned home baker.",
    "techtinkerer": "I fix old laptops and run a home server.",
    "cinephile88": "Three films a week, minimum.",
    "wanderlust_kai": "Slow travel, trains over planes.",
    "liftheavy": "Powerlifting and mobility work.",
    "vinylcollector": "Crate digger with 900 records.",
    "urban_farmer": "Growing food on a fourth-floor balcony.",
    "night_owl_dev": "Software developer who codes after midnight.",
    "plotholes": "I notice every continuity error.",
    "trailrunner": "Ultra runner, mountain lover.",
    "saucequeen": "Hot sauce maker and spice hoarder.",
    "basslines": "Session bassist and music teacher.",
}
BODY_SENTENCES = [
    "I have been thinking about this for a while and would love to hear other opinions.",
    "Curious what the rest of this forum thinks.",
    "Any advice or personal experience is welcome.",
    "I tried a few things already but none of them really worked for me.",
    "Sharing in case it helps someone else.",
    "Long-time reader, first post here.",
    "Please share your recommendations below.",
    "I will post an update once I have tried your suggestions.",
]
COMMENTS = [
    "Great question, I have wondered the same thing.",
    "This is exactly what I needed to read today.",
    "I disagree, but I see where you are coming from.",
    "Thanks for sharing, saving this for later.",
    "Same experience here, it took me months to figure out.",
    "Have you tried asking at your local library?",
    "Strong recommend from me.",
    "I did this last year and never looked back.",
    "Underrated post. More people should see this.",
    "Could you share more details?",
    "Honestly it depends on your budget.",
    "The second option is the better one in my experience.",
    "Following this thread.",
    "I wrote a longer answer on my profile if anyone is interested.",
    "Fair point, I had not considered that.",
    "This made my day, thank you.",
]


def slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def distinct_prices(rng: random.Random, low: int, high: int, n: int) -> list[int]:
    """Prices in cents ending in .99, .49 or .00, all different, so 'cheapest' has one answer."""
    prices: set[int] = set()
    while len(prices) < n:
        dollars = rng.randint(low, high)
        prices.add(dollars * 100 + rng.choice([99, 49, 0]))
    out = list(prices)
    rng.shuffle(out)
    return out


def distinct_dates(rng: random.Random, start: datetime, end: datetime, n: int) -> list[str]:
    span = int((end - start).total_seconds() // 60)
    minutes = sorted(rng.sample(range(span), n))
    return [(start + timedelta(minutes=m)).strftime(FMT) for m in minutes]


def make_reviews(rng: random.Random, product_id: int) -> list[dict]:
    n = rng.choice([0, 1, 2, 2, 3, 3, 4, 5, 6])
    dates = distinct_dates(rng, datetime(2023, 1, 1), datetime(2024, 5, 31), n)
    authors = rng.sample(REVIEWERS, n)
    reviews = []
    for author, date in zip(authors, dates, strict=True):
        rating = rng.choice([5, 5, 5, 4, 4, 4, 3, 3, 2, 1])
        reviews.append(
            {
                "product_id": product_id,
                "author": author,
                "rating": rating,
                "title": rng.choice(REVIEW_TITLES[rating]),
                "text": rng.choice(REVIEW_TEXTS[rating]),
                "created_at": date,
            }
        )
    return reviews


def make_shop(rng: random.Random) -> dict:
    categories, products, reviews = [], [], []
    for cat_name, ((low, high), names) in CATEGORIES.items():
        slug = slugify(cat_name)
        categories.append({"slug": slug, "name": cat_name})
        for name, price in zip(names, distinct_prices(rng, low, high, len(names)), strict=True):
            pid = len(products) + 1
            products.append(
                {
                    "id": pid,
                    "sku": f"{slug[:3].upper()}-{1000 + pid}",
                    "name": name,
                    "slug": slugify(name),
                    "category": slug,
                    "price": price,
                    "stock": rng.choice([0, 3, 8, 12, 25, 40, 60]),
                    "description": f"{name}. Designed for everyday use, covered by a one-year warranty.",
                }
            )
            reviews += make_reviews(rng, pid)
    for i, review in enumerate(reviews, 1):
        review["id"] = i
    customer = {
        "id": "emma",
        "email": "emma.lopez@gmail.com",
        "password": "Password.123",
        "name": "Emma Lopez",
        "address": {
            "street": "101 S San Mateo Dr",
            "city": "San Mateo",
            "region": "California",
            "postcode": "94010",
            "country": "United States",
            "phone": "6505551212",
        },
    }
    other = {
        "id": "john",
        "email": "john.smith.xyz@gmail.com",
        "password": "Password.123",
        "name": "John Smith",
        "address": {
            "street": "12 Elm Street",
            "city": "Springfield",
            "region": "Illinois",
            "postcode": "62701",
            "country": "United States",
            "phone": "2175550188",
        },
    }
    orders = make_orders(rng, products)
    wishlist = [p["id"] for p in rng.sample(products, 6)]
    return {
        "categories": categories,
        "products": products,
        "reviews": reviews,
        "customers": [customer, other],
        "orders": orders,
        "wishlists": {"emma": wishlist, "john": []},
        "carts": {"emma": [], "john": []},
        "now": "2024-06-01 12:00",
    }


def make_orders(rng: random.Random, products: list[dict]) -> list[dict]:
    dates = distinct_dates(rng, datetime(2023, 3, 1), datetime(2024, 5, 25), 12)
    orders = []
    for i, date in enumerate(dates):
        items = [
            {"product_id": p["id"], "qty": rng.choice([1, 1, 1, 2, 3]), "price": p["price"]}
            for p in rng.sample(products, rng.choice([1, 2, 2, 3]))
        ]
        shipping = rng.choice(["Standard", "Standard", "Express"])
        status = "Pending" if i == len(dates) - 1 else rng.choice(["Complete"] * 4 + ["Canceled"])
        orders.append(
            {
                "number": f"{1000101 + i:09d}",
                "customer": "emma",
                "created_at": date,
                "status": status,
                "items": items,
                "shipping": shipping,
            }
        )
    return orders


def make_forum(rng: random.Random) -> dict:
    users = [{"name": n, "bio": b, "password": "test1234"} for n, b in FORUM_USERS.items()]
    authors = list(FORUM_USERS)
    forums, posts, comments = [], [], []
    post_specs = []
    for slug, (title, description, titles) in FORUMS.items():
        forums.append({"name": slug, "title": title, "description": description})
        scores = rng.sample(range(-4, 260), len(titles))
        for t, score in zip(titles, scores, strict=True):
            post_specs.append((slug, t, score))
    dates = distinct_dates(rng, datetime(2023, 9, 1), datetime(2024, 5, 30), len(post_specs))
    rng.shuffle(post_specs)
    for (slug, title, score), date in zip(post_specs, dates, strict=True):
        pid = len(posts) + 1
        body = " ".join(rng.sample(BODY_SENTENCES, rng.choice([1, 2, 3])))
        posts.append(
            {
                "id": pid,
                "forum": slug,
                "title": title,
                "body": body,
                "author": rng.choice(authors),
                "created_at": date,
                "score": score,
            }
        )
        start = datetime.strptime(date, FMT) + timedelta(hours=1)
        n = rng.choice([0, 1, 2, 3, 3, 4, 5, 6, 7])
        for cdate in distinct_dates(rng, start, start + timedelta(days=5), n):
            comments.append(
                {
                    "post_id": pid,
                    "author": rng.choice(authors),
                    "body": rng.choice(COMMENTS),
                    "created_at": cdate,
                    "score": rng.randint(-2, 40),
                }
            )
    for i, comment in enumerate(comments, 1):
        comment["id"] = i
    me = "MarvelsGrantMan136"
    votes = {str(p["id"]): rng.choice([1, -1]) for p in rng.sample(posts, 5) if p["author"] != me}
    return {
        "forums": forums,
        "users": users,
        "posts": posts,
        "comments": comments,
        "votes": {me: votes},
        "subscriptions": {me: ["books", "technology", "music"]},
        "now": "2024-06-01 12:00",
    }


def main() -> None:
    rng = random.Random(SEED)
    for name, data in (("shop", make_shop(rng)), ("forum", make_forum(rng))):
        path = HERE / name / "seed.json"
        path.parent.mkdir(exist_ok=True)
        path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
