"""The MIMIC-IV notes' lexicon: synonyms of common ICD-10 codes and the discharge summary's header lines.

Constants only. Most synonyms are those of the equivalent ICD-9 code in ``lexicon.SYNONYMS`` (the clinical
language did not change with the code set); a few codes have their own.
"""

from .lexicon import SYNONYMS

# ICD-10 code -> the ICD-9 code whose synonyms it shares
_SAME_AS_ICD9 = {
    "I10": "4019", "I4891": "42731", "I480": "42731", "I2510": "41401", "N179": "5849", "E119": "25000",
    "E785": "2724", "J9601": "51881", "N390": "5990", "K219": "53081", "D649": "2859", "E039": "2449",
    "J189": "486", "D62": "2851", "E8720": "2762", "J449": "496", "R6521": "78552", "Z7901": "V5861",
    "A419": "0389", "J690": "5070", "N1830": "5859", "F329": "311", "I129": "40390", "N186": "40391",
    "F17210": "3051", "I252": "412", "D696": "2875", "I214": "41071", "E871": "2761", "Z951": "V4581",
    "Z87891": "V1582", "E875": "2767", "I959": "4589", "F05": "2930", "Z86718": "V1251", "J9811": "5180",
    "I350": "4241", "E860": "27651", "M109": "2749", "Z794": "V5867", "E876": "2768", "Z66": "V4986",
    "R0902": "79902", "I5033": "42833", "R7881": "7907",
    "02HV33Z": "3893", "0BH17EZ": "9604", "5A1945Z": "9671", "5A1935Z": "9671", "5A1955Z": "9672",
    "30233N1": "9904", "5A1221Z": "3961", "B246ZZZ": "8872", "4A023N7": "3722", "B2111ZZ": "8856",
    "02100Z9": "3615", "021209W": "3615", "0BJ08ZZ": "3324", "5A1D70Z": "3995", "0DJ08ZZ": "4513",
    "02703DZ": "0066", "5A09357": "9390", "3E0436Z": "9915", "3E0G76Z": "966", "0DH63UZ": "4311",
}
_OWN = {
    "F419": ("anxiety", "generalized anxiety"), "G4733": ("osa", "obstructive sleep apnea", "osa on cpap"),
    "E1122": ("diabetic nephropathy", "dm2 with ckd"), "Z7902": ("on aspirin", "on antiplatelet therapy"),
    "J45909": ("asthma",), "G8929": ("chronic pain",), "Z955": ("s/p pci", "prior stents"),
    "E669": ("obesity", "obese"), "Y929": (), "K5900": ("constipation",), "N400": ("bph",),
    "F1020": ("etoh abuse", "alcohol use disorder", "alcohol dependence"), "G4700": ("insomnia",),
    "Z8673": ("history of stroke", "prior cva"), "W19XXXA": ("fall", "mechanical fall", "s/p fall"),
    "R4182": ("altered mental status", "ams"), "D631": ("anemia of ckd",), "F0390": ("dementia",),
    "I5032": ("chronic diastolic chf", "hfpef"), "I5022": ("chronic systolic chf", "hfref"),
    "E1165": ("hyperglycemia", "uncontrolled diabetes"), "M5450": ("low back pain",),
    "G9341": ("toxic metabolic encephalopathy", "metabolic encephalopathy"),
    "G40909": ("seizure disorder", "epilepsy"),
    "Z992": ("on hemodialysis", "hd dependent"), "K922": ("gi bleed", "gib"), "I4821": ("permanent afib",),
    "E43": ("severe malnutrition",), "K7030": ("alcoholic cirrhosis", "etoh cirrhosis"),
    "I2699": ("pe", "pulmonary embolism"), "A0472": ("c diff", "c. difficile colitis"),
    "E1142": ("diabetic neuropathy",), "E559": ("vitamin d deficiency",),
    "0W9G3ZZ": ("paracentesis", "diagnostic paracentesis"), "0DB68ZX": ("egd with biopsy", "gastric biopsy"),
    "0T9B70Z": ("foley placement", "foley catheter"), "06HY33Z": ("picc line",),
    "30233R1": ("platelet transfusion",),
    "B030ZZZ": ("mri brain", "mri of the head"), "009U3ZZ": ("lumbar puncture", "lp"),
    "0FT44ZZ": ("lap cholecystectomy", "laparoscopic cholecystectomy"), "5A1D90Z": ("cvvh", "crrt"),
    "0W9930Z": ("chest tube", "pigtail catheter"),
}
SYNONYMS10 = {**{c: SYNONYMS[icd9] for c, icd9 in _SAME_AS_ICD9.items()}, **{c: s for c, s in _OWN.items() if s}}

# MIMIC-IV discharge summaries: every de-identified span is three underscores, lines end in a space
PLACEHOLDER = "___"
HEADER = (" \nName:  ___                     Unit No:   ___\n"
          " \nAdmission Date:  ___              Discharge Date:   ___\n"
          " \nDate of Birth:  ___             Sex:   {sex}\n \nService: {service}\n \n")
PREADMISSION = "The Preadmission Medication list is accurate and complete.\n"
SALUTATION = {"M": "Dear Mr. ___,", "F": "Dear Ms. ___,"}
