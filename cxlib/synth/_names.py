"""Name, address and contact lists and comment texts (synthetic; treat generated records as
PII all the same)."""

from __future__ import annotations

import numpy as np

FIRST_NAMES = (
    "Oliver James William Jack Harry George Thomas Charlie Joshua Daniel Samuel Joseph Henry "
    "Alexander Benjamin Matthew David Michael Robert Richard Christopher Andrew Edward Jonathan "
    "Nicholas Anthony Stephen Peter Paul Mark Simon Timothy Kenneth Gregory Frederick Philip "
    "Lawrence Nathan Zachary Leo Oscar Archie Freddie Arthur Noah Ethan Lucas Mason Logan Isaac "
    "Jacob Dylan Ryan Adam Luke Callum Liam Kieran Connor Jamie Lewis Aaron Ben Toby Max Sebastian "
    "Theo Finley Reuben Elliot Patrick Sean Gary Wayne Keith Colin Ian Graham Martin Neil Trevor "
    "Barry Derek Raymond Dennis Mohammed Ali Hassan Omar Yusuf Arjun Rohan Ravi Sanjay Vikram "
    "Olivia Amelia Isla Ava Emily Sophie Grace Lily Freya Charlotte Jessica Ella Evie Poppy Ruby "
    "Chloe Isabella Mia Daisy Holly Elizabeth Katherine Margaret Rebecca Samantha Jennifer Victoria "
    "Susan Deborah Patricia Christine Alexandra Abigail Catherine Eleanor Hannah Lucy Laura Sarah "
    "Emma Rachel Amy Lauren Megan Bethany Natalie Zoe Kirsty Gemma Hayley Nicola Claire Joanne "
    "Karen Julie Helen Alison Fiona Linda Janet Gillian Pauline Sandra Tracey Maureen Angela "
    "Fatima Aisha Zainab Priya Anjali Sunita Niamh Siobhan Aoife Morag Eilidh Carys Ffion Seren "
    "Rhys Dafydd Gareth Owain Hamish Angus Fraser Ewan Declan Ciaran"
).split()

LAST_NAMES = (
    "Smith Jones Williams Taylor Brown Davies Evans Wilson Thomas Johnson Roberts Robinson "
    "Thompson Wright Walker White Edwards Hughes Green Hall Lewis Harris Clarke Patel Jackson Wood "
    "Turner Martin Cooper Hill Ward Morris Moore Clark Lee King Baker Harrison Morgan Allen James "
    "Scott Phillips Watson Davis Parker Price Bennett Young Griffiths Mitchell Kelly Cook Carter "
    "Richardson Bailey Collins Bell Shaw Murphy Miller Cox Richards Khan Marshall Anderson Simpson "
    "Ellis Adams Singh Begum Wilkinson Foster Chapman Powell Webb Rogers Gray Mason Ali Hunt "
    "Hussain Campbell Matthews Owen Palmer Holmes Mills Barnes Knight Lloyd Butler Russell Barker "
    "Fisher Stevens Jenkins Murray Dixon Harvey Graham Pearson Ahmed Fletcher Walsh Kaur Gibson "
    "Howard Andrews Stewart Elliott Reynolds Saunders Payne Fox Ford Pearce Day Brooks West "
    "Lawrence Cole Atkinson Bradley Spencer Gill Dawson Ball Burton O'Brien Watts Rose Booth Perry "
    "Ryan Grant Wells Armstrong Francis Rees Hayes Hart Hudson Newman Barrett Webster Hunter "
    "Gregory Carr Lowe Page Marsh Riley Dunn Woods Parsons Berry Stone Reid Holland Hawkins "
    "Harding Porter Robertson Newton Oliver Reed Kennedy Williamson Bird Gardner Shah Dean Lane "
    "Cooke Bates Henderson Parry Burgess Bishop Walton Burns Nicholson Shepherd Ross Cross Long "
    "Freeman Warren Nicholls Hamilton Byrne Sutton McDonald Yates Hodgson Robson Curtis Hopkins "
    "O'Connor Harper Coleman Watkins Moss McCarthy Chambers O'Neill Griffin Sharp Hardy Wheeler "
    "Potter Osborne Johnston Gordon Doyle Wallace George Jordan Hutchinson Rowe Burke May Pritchard "
    "Gilbert Willis Higgins Read Miles Stevenson Stephenson Hammond Arnold Buckley Walters Hewitt "
    "Barber Nelson Slater Austin Sullivan Whitehead Mann Frost Lambert Stephens Blake Akhtar Lynch "
    "Goodwin Barton Woodward Thomson Cunningham Quinn Barnett Baxter Bibi Clayton Nash Greenwood"
).split()

NICKNAMES: dict[str, tuple[str, ...]] = {
    "Robert": ("Bob", "Rob", "Bobby"),
    "William": ("Bill", "Will", "Billy"),
    "Elizabeth": ("Liz", "Beth", "Lizzie"),
    "Katherine": ("Kate", "Katie", "Kath"),
    "Catherine": ("Cathy", "Kate", "Cath"),
    "Margaret": ("Maggie", "Peggy", "Meg"),
    "James": ("Jim", "Jamie", "Jimmy"),
    "Michael": ("Mike", "Mick"),
    "Thomas": ("Tom", "Tommy"),
    "Richard": ("Rich", "Rick", "Dick"),
    "Christopher": ("Chris", "Kit"),
    "Daniel": ("Dan", "Danny"),
    "Matthew": ("Matt",),
    "Anthony": ("Tony", "Ant"),
    "Jennifer": ("Jen", "Jenny"),
    "Rebecca": ("Becky", "Becca"),
    "Samantha": ("Sam", "Sammy"),
    "Alexander": ("Alex", "Xander"),
    "Benjamin": ("Ben", "Benji"),
    "Jonathan": ("Jon", "Jonny"),
    "Nicholas": ("Nick", "Nicky"),
    "Joseph": ("Joe", "Joey"),
    "Edward": ("Ed", "Ted", "Eddie"),
    "Andrew": ("Andy", "Drew"),
    "Stephen": ("Steve", "Stevie"),
    "Victoria": ("Vicky", "Tori"),
    "Susan": ("Sue", "Susie"),
    "Deborah": ("Debbie", "Deb"),
    "Patricia": ("Pat", "Trish"),
    "Christine": ("Chris", "Chrissie"),
    "Alexandra": ("Alex", "Lexi"),
    "Jessica": ("Jess", "Jessie"),
    "Charlotte": ("Charlie", "Lottie"),
    "Abigail": ("Abby", "Abi"),
    "Peter": ("Pete",),
    "Timothy": ("Tim",),
    "Kenneth": ("Ken", "Kenny"),
    "David": ("Dave", "Davy"),
    "Gregory": ("Greg",),
    "Samuel": ("Sam", "Sammy"),
    "Frederick": ("Fred", "Freddie"),
    "Henry": ("Harry", "Hal"),
    "Lawrence": ("Larry", "Laurie"),
    "Philip": ("Phil",),
    "Nathan": ("Nate",),
    "Zachary": ("Zach", "Zac"),
    "Oliver": ("Ollie",),
    "Eleanor": ("Ellie", "Nell"),
    "Isabella": ("Bella", "Izzy"),
    "Joshua": ("Josh",),
    "Hannah": ("Han",),
    "Natalie": ("Nat",),
    "Nicola": ("Nicky", "Nic"),
    "Gillian": ("Gill",),
    "Pauline": ("Paula",),
    "Sandra": ("Sandy",),
    "Angela": ("Angie",),
    "Raymond": ("Ray",),
    "Dennis": ("Den",),
    "Frederica": ("Freddie",),
    "Mohammed": ("Mo",),
    "Archibald": ("Archie",),
    "Gareth": ("Gaz",),
    "Dafydd": ("Dai",),
    "Joanne": ("Jo",),
    "Rachel": ("Rach",),
    "Sebastian": ("Seb",),
    "Elliot": ("Eli",),
    "Patrick": ("Pat", "Paddy"),
}

EMAIL_DOMAINS = (
    "gmail.com",
    "outlook.com",
    "hotmail.co.uk",
    "yahoo.co.uk",
    "btinternet.com",
    "icloud.com",
    "live.co.uk",
    "sky.com",
)
EMAIL_DOMAIN_P = np.array([0.38, 0.14, 0.14, 0.1, 0.08, 0.08, 0.05, 0.03])

# Outward postcode districts with their region (synthetic inward codes are added).
POSTCODE_AREAS = (
    ("SW1A", "London"),
    ("SE15", "London"),
    ("N7", "London"),
    ("E14", "London"),
    ("W12", "London"),
    ("NW6", "London"),
    ("CR0", "London"),
    ("HA8", "London"),
    ("M1", "North"),
    ("M20", "North"),
    ("LS6", "North"),
    ("LS17", "North"),
    ("S10", "North"),
    ("L8", "North"),
    ("L17", "North"),
    ("NE6", "North"),
    ("YO10", "North"),
    ("BD9", "North"),
    ("HU5", "North"),
    ("WA4", "North"),
    ("B15", "Midlands"),
    ("B29", "Midlands"),
    ("CV4", "Midlands"),
    ("NG7", "Midlands"),
    ("LE2", "Midlands"),
    ("DE22", "Midlands"),
    ("ST4", "Midlands"),
    ("WV3", "Midlands"),
    ("NN3", "Midlands"),
    ("BS8", "South"),
    ("BS16", "South"),
    ("BN1", "South"),
    ("SO17", "South"),
    ("PO4", "South"),
    ("OX4", "South"),
    ("RG1", "South"),
    ("GU1", "South"),
    ("EX4", "South"),
    ("PL4", "South"),
    ("CB1", "South"),
    ("NR2", "South"),
    ("MK9", "South"),
    ("CF10", "Wales"),
    ("CF14", "Wales"),
    ("SA1", "Wales"),
    ("LL57", "Wales"),
    ("NP20", "Wales"),
    ("EH3", "Scotland"),
    ("EH10", "Scotland"),
    ("G12", "Scotland"),
    ("G41", "Scotland"),
    ("AB10", "Scotland"),
    ("DD1", "Scotland"),
    ("IV2", "Scotland"),
    ("KY16", "Scotland"),
    ("BT9", "Northern Ireland"),
    ("BT7", "Northern Ireland"),
    ("TR1", "South"),
    ("CT1", "South"),
    ("ME4", "South"),
)
POSTCODE_INWARD_LETTERS = np.array(list("ABDEFGHJLNPQRSTUWXYZ"))

COMPLAINT_COMMENTS = (
    "Order arrived late and nobody called me back",
    "Refund still not processed after two weeks",
    "App kept crashing at checkout, had to phone in",
    "Charged twice for the same order",
    "Rude staff at the till",
    "Item was damaged and the returns process is a nightmare",
    "Waited 40 minutes on hold",
    "Loyalty points missing from my account",
    "Wrong item delivered, second time this month",
    "Promised a call back that never came",
    "Delivery slot cancelled without notice",
    "Website would not accept my voucher",
)
_FIRST_LOW = tuple(x.lower().replace("'", "") for x in FIRST_NAMES)
_LAST_LOW = tuple(x.lower().replace("'", "") for x in LAST_NAMES)
_NICK_LOOKUP = {f"{k}|{i}": v for k, vs in NICKNAMES.items() for i, v in enumerate(vs)}

SURVEY_COMMENTS_GOOD = (
    "Quick and easy, thanks",
    "Helpful staff",
    "Great prices this week",
    "Delivery was on time",
)
SURVEY_COMMENTS_BAD = (
    "Shelves were half empty",
    "Queue was too long",
    "Checkout was slow",
    "Could not find what I needed",
)
