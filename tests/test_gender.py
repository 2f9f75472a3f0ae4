import pytest

from catalog.gender import compatible_genders, hm_gender, myntra_gender
from catalog.models import Gender


@pytest.mark.parametrize(
    ("index_group", "section", "expected"),
    [
        ("Ladieswear", "Womens Everyday Basics", Gender.WOMEN),
        ("Ladieswear", "Mama", Gender.WOMEN),
        ("Divided", "Divided Collection", Gender.WOMEN),
        ("Divided", "Ladies Denim", Gender.WOMEN),
        ("Menswear", "Men Underwear", Gender.MEN),
        ("Menswear", "Contemporary Smart", Gender.MEN),
        ("Sport", "Men H&M Sport", Gender.MEN),
        ("Sport", "Ladies H&M Sport", Gender.WOMEN),
        ("Sport", "Kids Sports", Gender.KIDS),
        ("Baby/Children", "Kids Girl", Gender.GIRLS),
        ("Baby/Children", "Young Girl", Gender.GIRLS),
        ("Baby/Children", "Girls Underwear & Basics", Gender.GIRLS),
        ("Baby/Children", "Baby Girl", Gender.GIRLS),
        ("Baby/Children", "Boys Underwear & Basics", Gender.BOYS),
        ("Baby/Children", "Young Boy", Gender.BOYS),
        ("Baby/Children", "Baby Boy", Gender.BOYS),
        ("Baby/Children", "Kids Outerwear", Gender.KIDS),
        ("Baby/Children", "Baby Essentials & Complements", Gender.KIDS),
        ("Something new", "Whatever", Gender.UNISEX),
    ],
)
def test_hm_gender_mapping(index_group, section, expected):
    assert hm_gender(index_group_name=index_group, section_name=section) == expected


def test_hm_gender_mapping_covers_every_section_in_the_data(hm_folder):
    import csv

    with open(hm_folder / "articles.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    genders = {hm_gender(index_group_name=r["index_group_name"], section_name=r["section_name"]) for r in rows}
    assert genders == set(Gender.values) - {Gender.UNISEX}  # the real data has no section for everyone
    children = [r for r in rows if r["index_group_name"] == "Baby/Children" or "Kids" in r["section_name"]]
    for row in children:  # issue 41: a baby set was "unisex", and unisex goes with men
        gender = hm_gender(index_group_name=row["index_group_name"], section_name=row["section_name"])
        assert gender not in compatible_genders("men") and gender not in compatible_genders("women")
    menswear = [r for r in rows if r["index_group_name"] == "Menswear"]
    assert all(hm_gender(index_group_name="Menswear", section_name=r["section_name"]) == Gender.MEN for r in menswear)


def test_myntra_gender():
    assert myntra_gender("Men") == Gender.MEN
    assert myntra_gender(" Girls ") == Gender.GIRLS
    with pytest.raises(ValueError, match="unknown gender"):
        myntra_gender("Martian")


def test_compatible_genders():
    assert set(compatible_genders("women")) == {"women", "unisex"}
    assert set(compatible_genders("boys")) == {"boys", "kids", "unisex"}
    assert set(compatible_genders("kids")) == {"kids", "girls", "boys", "unisex"}
    assert set(compatible_genders("men")) == {"men", "unisex"}
    assert set(compatible_genders("unisex")) == set(Gender.values)


def test_a_shopper_who_chose_nothing_sees_childrens_products_only_after_looking_at_one():
    from recommendations.domain import Shopper, ShopperEvent

    def seen(*genders):
        return [ShopperEvent(product_id=n, kind="view", at=None, gender=g, name="") for n, g in enumerate(genders)]

    assert set(Shopper(user_id=None, visitor=None).allowed_genders()) == {"women", "men", "unisex"}
    assert Shopper(user_id=None, visitor=None).allowed_genders(children_apart=False) is None
    assert Shopper(user_id=None, visitor=None, recent=seen("women", "kids")).allowed_genders() is None
    assert set(Shopper(user_id=None, visitor=None, recent=seen("men", "men")).allowed_genders()) == {"men", "unisex"}
    assert "kids" in Shopper(user_id=None, visitor=None, gender_choice="kids").allowed_genders()
