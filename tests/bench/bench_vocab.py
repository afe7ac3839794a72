"""A realistic vocabulary for the directory benchmarks: the words a
service's name and description are made of, and so the words caseworkers
search for. With a handful of words every search string recurs within
seconds and a node's kept answers hide the cost of a fresh search; with a
few hundred, a search string recurs only by chance, as between
caseworkers."""

import re

VOCAB = """
abuse access accommodation addiction adolescent adult advice advocacy advocate
afternoon aftercare alcohol allotment ambulance anger antenatal anxiety appointment
appeal arts assessment asylum autism baby befriending benefits bereavement
bilingual boundaries breakfast budgeting bullying campaign cancer carer caring
casework centre challenge charity childcare children choir citizens city
clinic closure coaching coercive college community companionship complaint
confidence confidential conflict consent cooking coordinator coping council
counselling counsellor county court creative credit crisis culture custody
dance daytime deaf debt dementia dental depression digital disability
discrimination distance district divorce doctor domestic drama drop driving
drugs early eating education elderly emergency emotional employment empowerment
energy english equality evening eviction exploitation family fathers finance
fitness floating food forced foster freedom friendship funding gambling garden
gender girls grandparents grief group guidance harassment harm healing health
hearing helpline heritage holiday homeless homelessness honour hospital hostel
housing immigration inclusion independent information injunction interpreter
isolation jobs journey justice kinship kitchen knowledge language learning
legal leisure lesbian library lifeline listening literacy local loneliness
maternity mediation medical meeting memory mental mentoring midwife migrant
minority money morning mothers motivation music neighbourhood network night
nursery nutrition older online outreach painting parenting parents partner
peer pension perinatal phone physical planning police practical pregnancy
prevention prison probation programme protection psychology radio reading
recovery referral refuge refugee relationship relief religious remote rent
rescue resettlement residential resilience respite retreat rights rural
safeguarding safety sanctuary school secure self service sexual shelter
signposting single sleep social solicitor specialist speech sport stalking
stress students substance suicide summer supervision support surgery survivor
swimming talking teenage telephone tenancy tenants therapy training transgender
translation transport trauma travel trust tuition unemployment university urban
victim video violence visiting voice volunteer walking wellbeing welfare
wheelchair widow winter women workshop worship writing young youth
""".split()

# Connectives between a description's words (stop words: never searched).
_GLUE = ["and", "for", "with", "in", "of", "the", "to", "after", "by"]


def name(rng, k):
    """A service's name: two or three words of the vocabulary and a number."""
    return " ".join(w.title() for w in rng.sample(VOCAB, rng.randint(2, 3))) + f" {k}"


def description(rng):
    """Ten to twenty words of the vocabulary joined by stop words."""
    words = rng.sample(VOCAB, rng.randint(10, 20))
    out = [words[0].capitalize()]
    for w in words[1:]:
        out.append(rng.choice(_GLUE) if rng.random() < 0.4 else "")
        out.append(w)
    return " ".join(x for x in out if x) + "."


def searchable(texts):
    """Every word of at least 4 letters in texts, sorted: what a search
    draws from."""
    return sorted({w for t in texts for w in re.findall(r"[a-z]{4,}", t.lower())})
