"""Gender of a product, from each source's own columns, and which genders go together.

H&M has no gender column. Its department hierarchy is mapped as follows (and tested):

=================  ==================================================  ========
index_group_name   section_name                                        gender
=================  ==================================================  ========
Ladieswear         any (including Mama, H&M+, Womens Lingerie)         women
Divided            any (H&M's young women's line, incl. Ladies Denim)  women
Menswear           any                                                 men
Sport              starts with "Men"                                   men
Sport              starts with "Ladies"                                women
Sport              anything else ("Kids Sports")                       kids
Baby/Children      contains "Girl" (Kids Girl, Young Girl, Baby Girl)  girls
Baby/Children      contains "Boy" (Kids Boy, Young Boy, Baby Boy)      boys
Baby/Children      anything else (Kids Outerwear, Baby Essentials)     kids
anything else                                                          unisex
=================  ==================================================  ========

Age groups are not genders: a baby's bodysuit for either sex was imported as "unisex", and unisex
goes with everyone, so the Men homepage showed baby clothes. Children's products are "kids" (or
girls/boys) and go only with children's genders; a shopper who chose nothing and has shown no
interest in children's products is not shown them either (``ADULT_GENDERS``).
"""

from catalog.models import Gender


def hm_gender(*, index_group_name: str, section_name: str) -> Gender:
    group = index_group_name.strip().lower()
    section = section_name.strip().lower()
    if group in {"ladieswear", "divided"}:
        return Gender.WOMEN
    if group == "menswear":
        return Gender.MEN
    if group == "sport":
        if section.startswith("men"):
            return Gender.MEN
        if section.startswith("ladies"):
            return Gender.WOMEN
        return Gender.KIDS
    if group == "baby/children":
        if "girl" in section:
            return Gender.GIRLS
        if "boy" in section:
            return Gender.BOYS
        return Gender.KIDS
    return Gender.UNISEX


def myntra_gender(value: str) -> Gender:
    """Fashion Product Images uses Men, Women, Boys, Girls, Unisex."""
    try:
        return Gender(value.strip().lower())
    except ValueError:
        raise ValueError(f"unknown gender {value!r}") from None


# Which product genders may be shown next to a product (or to a shopper) of a given gender.
# Unisex products go with everyone; a unisex query accepts every gender.
COMPATIBLE_GENDERS: dict[str, tuple[str, ...]] = {
    Gender.WOMEN: (Gender.WOMEN, Gender.UNISEX),
    Gender.MEN: (Gender.MEN, Gender.UNISEX),
    Gender.GIRLS: (Gender.GIRLS, Gender.KIDS, Gender.UNISEX),
    Gender.BOYS: (Gender.BOYS, Gender.KIDS, Gender.UNISEX),
    Gender.KIDS: (Gender.KIDS, Gender.GIRLS, Gender.BOYS, Gender.UNISEX),
    Gender.UNISEX: tuple(Gender.values),
}
CHILDREN_GENDERS = frozenset({Gender.GIRLS, Gender.BOYS, Gender.KIDS})
# What a shopper who chose nothing, and whose history shows no interest in children's products, is shown.
ADULT_GENDERS: tuple[str, ...] = (Gender.WOMEN, Gender.MEN, Gender.UNISEX)


def compatible_genders(gender: str) -> tuple[str, ...]:
    return COMPATIBLE_GENDERS[Gender(gender)]
