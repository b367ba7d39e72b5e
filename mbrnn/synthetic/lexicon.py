"""The lexicon of the synthetic notes: synonyms, slot values, sentence templates, section layouts.

Only constants live here (no randomness, no logic), so the prose can be read and edited in one place.
Templates hold ``{slot}`` fields that ``world.render`` fills from ``SLOTS`` and drawn numbers; ``POSITIVE``
and ``NEGATIVE`` templates hold ``{p}`` (a code's phrase) and ``{P}`` (the phrase capitalised).
"""

# Synonyms and clinical abbreviations of common codes (a small hand-made table; other codes are mentioned
# through words of their CMS titles).
SYNONYMS = {
    "4019": ("htn", "hypertension", "high blood pressure", "essential hypertension"),
    "4280": ("chf", "congestive heart failure", "heart failure", "chf exacerbation"),
    "42731": ("afib", "atrial fibrillation", "af", "a-fib", "paroxysmal atrial fibrillation"),
    "41401": ("cad", "coronary artery disease", "coronary atherosclerosis", "3 vessel cad"),
    "5849": ("aki", "acute kidney injury", "acute renal failure", "arf"),
    "25000": ("dm2", "type 2 diabetes", "diabetes mellitus", "niddm", "dm type ii"),
    "2724": ("hyperlipidemia", "hld", "dyslipidemia"),
    "51881": ("acute respiratory failure", "hypoxic respiratory failure", "hypercarbic respiratory failure"),
    "5990": ("uti", "urinary tract infection", "urosepsis"),
    "53081": ("gerd", "reflux", "gastroesophageal reflux disease"),
    "2720": ("hypercholesterolemia", "high cholesterol", "elevated ldl"),
    "V053": ("hepatitis b vaccine", "hep b vaccine given"),
    "V290": ("sepsis evaluation", "ruled out for sepsis with 48 hours of antibiotics", "sepsis risk factors"),
    "2859": ("anemia", "chronic anemia"),
    "2449": ("hypothyroidism", "hypothyroid", "on levothyroxine"),
    "486": ("pneumonia", "pna", "cap", "rll infiltrate", "lobar pneumonia"),
    "2851": ("acute blood loss anemia", "abla", "postoperative anemia"),
    "2762": ("metabolic acidosis", "acidosis", "lactic acidosis"),
    "496": ("copd", "chronic obstructive pulmonary disease", "emphysema"),
    "99592": ("severe sepsis", "sepsis with organ dysfunction"),
    "V5861": ("on coumadin", "long term anticoagulation", "on warfarin"),
    "0389": ("sepsis", "septicemia", "bacteremia with sepsis"),
    "5070": ("aspiration pneumonia", "aspiration pneumonitis"),
    "V3000": ("born by nsvd", "normal spontaneous vaginal delivery", "vaginal delivery"),
    "V3001": ("born by c-section", "cesarean section delivery", "c/s delivery"),
    "5859": ("ckd", "chronic kidney disease", "chronic renal insufficiency", "cri"),
    "311": ("depression", "depressed mood", "on ssri for depression"),
    "40390": ("hypertensive kidney disease", "htn nephropathy"),
    "40391": ("esrd", "end stage renal disease on hd", "hypertensive esrd"),
    "3051": ("tobacco use", "smoker", "active smoker", "1 ppd smoker"),
    "412": ("old mi", "prior mi", "history of myocardial infarction", "s/p mi"),
    "2875": ("thrombocytopenia", "low platelets"),
    "41071": ("nstemi", "non st elevation mi", "subendocardial mi"),
    "2761": ("hyponatremia", "low sodium"),
    "7742": ("jaundice of prematurity", "hyperbilirubinemia", "neonatal jaundice"),
    "V4581": ("s/p cabg", "history of cabg", "prior bypass surgery"),
    "4240": ("mitral regurgitation", "mr", "mitral valve disease"),
    "V1582": ("former smoker", "quit smoking", "remote tobacco use"),
    "5119": ("pleural effusion", "effusion"),
    "78552": ("septic shock", "shock requiring pressors"),
    "2767": ("hyperkalemia", "high potassium"),
    "4589": ("hypotension", "low blood pressure"),
    "E8798": ("complication of procedure",),
    "2930": ("delirium", "acute confusion", "icu delirium"),
    "V1251": ("history of dvt", "prior pe", "history of venous thromboembolism"),
    "5180": ("atelectasis", "lobar collapse"),
    "2760": ("hypernatremia", "high sodium"),
    "4241": ("aortic stenosis", "as", "aortic valve disease"),
    "27651": ("dehydration", "volume depletion"),
    "2749": ("gout",),
    "V5867": ("on insulin", "insulin dependent"),
    "4439": ("pvd", "peripheral vascular disease", "claudication"),
    "7706": ("ttn", "transient tachypnea of the newborn"),
    "7907": ("bacteremia", "positive blood cultures"),
    "2768": ("hypokalemia", "low potassium"),
    "V4986": ("dnr", "do not resuscitate", "dnr/dni"),
    "5715": ("cirrhosis", "liver cirrhosis"),
    "4254": ("cardiomyopathy", "dilated cardiomyopathy"),
    "79902": ("hypoxemia", "hypoxia", "desaturation"),
    "42833": ("acute on chronic diastolic chf", "diastolic heart failure exacerbation"),
    "42823": ("acute on chronic systolic chf", "systolic heart failure exacerbation"),
    "3893": ("central line", "picc line", "cvl", "central venous catheter"),
    "9604": ("intubated", "endotracheal intubation", "ett placed"),
    "966": ("tube feeds", "enteral nutrition", "ng tube feeds"),
    "9671": ("mechanically ventilated", "on the ventilator", "vented for less than 96 hours"),
    "9672": ("prolonged mechanical ventilation", "ventilated for more than 96 hours"),
    "9904": ("prbc transfusion", "transfused packed red blood cells", "blood transfusion", "transfused 2 units"),
    "3961": ("cardiopulmonary bypass", "cpb", "on pump"),
    "9955": ("vaccine given", "immunization"),
    "8856": ("coronary angiogram", "coronary angiography", "cath with angiogram"),
    "3891": ("arterial line", "a-line", "art line"),
    "3615": ("cabg", "coronary artery bypass graft", "lima to lad"),
    "9915": ("tpn", "parenteral nutrition", "hyperal"),
    "8872": ("echo", "tte", "echocardiogram", "transthoracic echo"),
    "3722": ("cardiac cath", "left heart catheterization", "lhc"),
    "3324": ("bronchoscopy", "bronch with bal", "bal"),
    "3995": ("hemodialysis", "hd", "dialysis"),
    "4513": ("egd", "upper endoscopy"),
    "3723": ("right and left heart cath", "r+l heart cath"),
    "0066": ("pci", "ptca", "angioplasty"),
    "9390": ("bipap", "cpap", "non-invasive ventilation", "niv"),
    "0045": ("one stent placed", "single stent"),
    "0040": ("single vessel intervention",),
    "3607": ("des", "drug eluting stent"),
    "9983": ("phototherapy", "bili lights"),
    "3404": ("chest tube", "chest tube placement"),
    "4311": ("peg", "peg tube"),
    "640": ("circumcision",),
}

SLOTS = {
    "drug": ("aspirin", "metoprolol", "lisinopril", "furosemide", "lasix", "heparin", "warfarin", "coumadin",
             "atorvastatin", "simvastatin", "insulin", "metformin", "vancomycin", "zosyn", "ceftriaxone",
             "levofloxacin", "azithromycin", "prednisone", "solumedrol", "albuterol", "ipratropium", "pantoprazole",
             "protonix", "omeprazole", "ondansetron", "morphine", "dilaudid", "oxycodone", "acetaminophen",
             "tylenol", "lorazepam", "haloperidol", "quetiapine", "levetiracetam", "keppra", "phenytoin",
             "amiodarone", "diltiazem", "digoxin", "clopidogrel", "plavix", "enoxaparin", "lovenox",
             "potassium chloride", "magnesium sulfate", "calcium gluconate", "norepinephrine", "levophed",
             "vasopressin", "propofol", "fentanyl", "midazolam", "nitroglycerin", "hydralazine", "labetalol",
             "amlodipine", "carvedilol", "spironolactone", "tamsulosin", "docusate", "senna", "lactulose",
             "rifaximin", "meropenem", "cefepime", "flagyl", "metronidazole", "fluconazole", "bactrim",
             "levothyroxine", "sertraline", "citalopram", "gabapentin", "ampicillin", "gentamicin", "caffeine"),
    "symptom": ("chest pain", "shortness of breath", "dyspnea on exertion", "fevers and chills", "abdominal pain",
                "nausea and vomiting", "altered mental status", "weakness", "dizziness", "syncope", "cough",
                "melena", "hematemesis", "diarrhea", "palpitations", "lower extremity edema", "confusion",
                "headache", "back pain", "fall at home", "decreased urine output", "lethargy", "hypoxia"),
    "o2dev": ("RA", "2L NC", "3L NC", "4L NC", "NRB", "face mask", "room air", "50% venti mask"),
    "rel": ("mother", "father", "brother", "sister", "maternal grandmother", "paternal uncle", "son", "daughter"),
    "side": ("left", "right", "bilateral"),
    "lobe": ("right lower lobe", "left lower lobe", "right upper lobe", "left upper lobe", "right middle lobe",
             "lingula", "bilateral bases"),
    "unit": ("MICU", "CCU", "CSRU", "SICU", "TSICU", "NICU", "the floor", "the step-down unit"),
    "name": ("[**Last Name (NamePattern1) **]", "[**Known firstname {n}**]", "[**Last Name (NamePattern1) {n}**]",
             "[**First Name8 (NamePattern2) {n}**]", "[**Doctor Last Name {n}**]", "[**Name (NI) {n}**]",
             "[**Known lastname {n}**]", "[**Doctor First Name {n}**]"),
    "hospital": ("[**Hospital1 18**]", "[**Hospital1 {n}**]", "[**Hospital 1474**]", "[**Hospital3 {n}**]",
                 "[**Hospital6 {n}**]", "[**Hospital Ward Name {n}**]"),
    "place": ("[**Location (un) {n}**]", "[**State {n}**]", "[**Location 1268**]", "[**Location (un) 86**]"),
    "phone": ("[**Telephone/Fax (1) {n}**]", "[**Telephone/Fax (3) {n}**]"),
    "job": ("retired teacher", "construction worker", "nurse", "lawyer", "retired engineer", "homemaker",
            "bus driver", "accountant", "retired postal worker", "cook", "student", "unemployed"),
    "lives": ("lives alone", "lives with his wife", "lives with her husband", "lives with daughter",
              "lives in an assisted living facility", "lives at a nursing home", "lives with family"),
}
SLOTS["drug2"] = SLOTS["drug"]

HPI = (
    "The patient was in {hisher} usual state of health until {n} days prior to admission when {heshe} developed {symptom}.",
    "In the ED, initial vitals were T {temp} HR {hr} BP {sbp}/{dbp} RR {rr} O2 sat {o2}% on {o2dev}.",
    "{HeShe} was given {drug} {dose} mg IV and {drug2} in the ED.",
    "{HeShe} reports {symptom} for the past {n} days, worse with exertion.",
    "{HeShe} was seen at an outside hospital and transferred to {hospital} for further management.",
    "Of note, {heshe} was recently discharged from {hospital} after a {n} day admission.",
    "Labs were notable for a WBC of {wbc}, creatinine of {cr} and lactate of {lac}.",
    "{HeShe} denies {symptom}, {symptom2} or recent travel.",
    "Per the family, {heshe} has been more fatigued over the last {n} weeks with poor po intake.",
    "EMS was called by {hisher} {rel} who found {himher} on the floor.",
    "On arrival to {unit}, {heshe} was {state}.",
    "{HeShe} received {n} liters of IVF and was started on {drug}.",
    "CXR in the ED showed {cxr}.",
    "ECG showed sinus rhythm at {hr} with no acute ST changes.",
    "ROS: negative for fevers, chills, night sweats, headache, vision changes, cough, hemoptysis, dysuria, "
    "hematuria, rash or joint pains; otherwise as per HPI.",
    "{HeShe} was admitted to {unit} for further management.",
    "Patient's outpatient cardiologist Dr. {name} was notified.",
    "{HeShe} takes {drug} at home and reports good compliance.",
    'Per {hisher} {rel}, {heshe} "has not been {himher}self" for the past {n} days.',
)
COURSE = (
    "{HeShe} was treated with {drug} and {drug2} with improvement.",
    "{HeShe} was continued on {hisher} home dose of {drug}.",
    "{Drug} was held in the setting of hypotension and restarted prior to discharge.",
    "{HeShe} was diuresed with IV lasix with good response, net negative {n} liters.",
    "Serial labs were followed and remained stable.",
    "The issue resolved by the time of discharge.",
    "{HeShe} will follow up with {hisher} PCP Dr. {name} for further management.",
    "Cultures were sent and remained negative at the time of discharge.",
    "{Drug} was titrated to a goal heart rate of 60-80.",
    "Electrolytes were repleted as needed.",
    "{HeShe} was transferred to {unit} for closer monitoring and returned to the floor on hospital day {n}.",
    "Physical therapy evaluated {himher} and recommended {dispo}.",
    "{HeShe} was monitored on telemetry without events.",
    "A {n} day course of {drug} was completed.",
    "Imaging was reviewed with radiology and discussed with the family.",
    "{HeShe} remained hemodynamically stable throughout the admission.",
)
COURSE_NB = (
    "Infant was started on ampicillin and gentamicin, which were discontinued after 48 hours when cultures were negative.",
    "Infant has been feeding well, taking {n}0 cc per feed of breast milk or Enfamil 20.",
    "Peak bilirubin was {bili} on day of life {n}; infant was treated with phototherapy.",
    "Infant has remained in room air throughout the hospital course with no apnea or bradycardia.",
    "Weight at discharge is {grams} grams.",
    "Hearing screen was performed with automated auditory brainstem responses and the infant passed both ears.",
    "Infant has been stable in an open crib since day of life {n}.",
    "Parents have been updated at the bedside by the NICU team.",
    "Newborn state screen was sent per protocol.",
    "Car seat position screening test was passed.",
)
HPI_NB = (
    "Baby {boygirl} {name} is the {grams} gram product of a {ga} week gestation born to a {age2} year old G{n}P{n} mother.",
    "Prenatal screens: blood type O positive, antibody negative, RPR nonreactive, rubella immune, HBsAg negative, GBS {gbs}.",
    "Pregnancy was complicated by {pregnancy}.",
    "Rupture of membranes occurred {n} hours prior to delivery; there was no maternal fever.",
    "Apgars were {n} and {n} at one and five minutes.",
    "Infant emerged vigorous, was dried and stimulated, and was brought to the NICU for {nicu_reason}.",
)
PMH_FILL = ("s/p appendectomy", "s/p cholecystectomy", "s/p tonsillectomy", "osteoarthritis", "cataracts",
            "s/p right knee replacement", "anxiety", "BPH", "chronic low back pain", "s/p hysterectomy",
            "remote history of kidney stones", "glaucoma", "hearing loss")
EXAM = ("VS: T {temp} BP {sbp}/{dbp} HR {hr} RR {rr} O2 {o2}% {o2dev}\n"
        "GEN: {gen}\nHEENT: NCAT, PERRL, EOMI, MMM, OP clear\nNECK: supple, JVP {jvp}\n"
        "CV: {cv}\nLUNGS: {lungs}\nABD: soft, NT/ND, +BS, no HSM\nEXT: {ext}\n"
        "NEURO: A&O x{n}, CN II-XII intact, moves all extremities")
EXAM_NB = ("Weight {grams} grams, length {n}0 cm, head circumference {n}0 cm.\n"
           "General: Pink, active, well-appearing infant in no distress.\nHEENT: Anterior fontanelle open and flat, "
           "palate intact, red reflex present bilaterally.\nChest: Clear breath sounds bilaterally, no retractions.\n"
           "CV: Regular rate and rhythm, no murmur, femoral pulses 2+.\nAbdomen: Soft, no masses, three vessel cord.\n"
           "GU: Normal {boygirl} genitalia.\nNeuro: Good tone, normal suck, grasp and Moro reflexes.")
LABS = (
    "BLOOD WBC-{wbc} RBC-{rbc}* Hgb-{hgb}* Hct-{hct}* MCV-{n}0 MCH-{n}1.2 MCHC-33.{n} "
    "RDW-14.{n} Plt Ct-{plt}",
    "BLOOD Glucose-{glu}* UreaN-{bun}* Creat-{cr}* Na-{na} K-{k} Cl-{n}01 HCO3-{hco3} "
    "AnGap-1{n}",
    "BLOOD ALT-{n}2 AST-{n}5 LD(LDH)-2{n}0 AlkPhos-{n}8 TotBili-0.{n}",
    "BLOOD PT-1{n}.2 PTT-3{n}.1 INR(PT)-1.{n}",
    "BLOOD CK-MB-{n} cTropnT-0.0{n}",
    "BLOOD Calcium-8.{n} Phos-3.{n} Mg-1.{n}",
    "BLOOD Type-ART pO2-{n}8 pCO2-4{n} pH-7.3{n} calTCO2-2{n} Base XS-0",
    "URINE Color-Yellow Appear-Clear Sp Gr-1.01{n} Blood-NEG Nitrite-NEG Protein-NEG "
    "Glucose-NEG Ketone-NEG Leuks-NEG",
    "BLOOD Lactate-{lac}",
)
IMAGING = (
    "CXR @DATE@: {cxr}.",
    "CT head @DATE@: No acute intracranial hemorrhage or mass effect.",
    "TTE @DATE@: The left atrium is mildly dilated. Left ventricular systolic function is {lvf} (LVEF {n}0%). "
    "There is mild mitral regurgitation.",
    "CT abdomen/pelvis @DATE@: No free air or fluid collection. Diverticulosis without diverticulitis.",
    "Renal ultrasound @DATE@: No hydronephrosis. Normal size kidneys.",
    "LENIs @DATE@: No deep venous thrombosis in the {side} lower extremity.",
    "Head ultrasound @DATE@: No intraventricular hemorrhage.",
)
SOCIAL = ("{HeShe} {lives}.", "Works as a {job}.", "Denies illicit drug use.", "Drinks {n} glasses of wine per week.",
          "Quit smoking {n}0 years ago.", "Ambulates with a walker at baseline.", "Health care proxy is {hisher} {rel}.")
INSTRUCTIONS = (
    "You were admitted to the hospital with {symptom}.",
    "Please take all medications as prescribed.",
    "Please call your doctor or return to the emergency room if you develop chest pain, shortness of breath, "
    "fevers, chills, nausea, vomiting or any other concerning symptoms.",
    "Weigh yourself every morning, call MD if weight goes up more than 3 lbs.",
    "Adhere to 2 gm sodium diet.",
    "The following changes were made to your medications: START {drug}, STOP {drug2}.",
    "Please keep all of your follow up appointments.",
    "Do not drive while taking narcotic pain medication.",
    "It was a pleasure taking care of you at {hospital}.",
    "You should not lift more than 10 pounds for 6 weeks.",
    "Continue your home medications unless told otherwise.",
)
DISPOSITIONS = ("Home", "Home With Service", "Extended Care", "Home", "Rehab")
CONDITIONS = ("Mental Status: Clear and coherent.\nLevel of Consciousness: Alert and interactive.\n"
              "Activity Status: Ambulatory - Independent.", "stable", "Good", "Hemodynamically stable, afebrile, "
              "tolerating a regular diet.", "Fair. Ambulating with assistance.")
ALLERGIES = ("Patient recorded as having No Known Allergies to Drugs", "Penicillins", "Sulfa (Sulfonamide Antibiotics)",
             "Codeine / Morphine", "Iodine; Iodine Containing", "Aspirin")

POSITIVE = {  # where an assigned code is mentioned: {p} the phrase, {P} capitalised
    "hpi": ("{HeShe} has a history of {p}.", "Known {p}.", "Found to have {p}.", "Admitted with {p}.",
            "Recently diagnosed with {p}.", "Workup in the ED was notable for {p}.", "Course complicated by {p}.",
            "Also with {p}, followed as an outpatient.", "Presentation was consistent with {p}."),
    "results": ("IMPRESSION: Findings consistent with {p}.", "Study notable for {p}.", "Impression: {p}."),
    "course": ("# {P}: ", "# {P} - ", "{P}: "),
    "proc": ("{P}", "{P} on [**{date}**]"),
    "px_course": ("{HeShe} underwent {p} on [**{date}**] without complications.", "s/p {p}.",
                  "{P} was performed on hospital day {n}.", "Required {p} during this admission."),
}
NEGATIVE = {  # mentions of codes that are NOT assigned
    "negated": ("No evidence of {p}.", "Negative for {p}.", "{P} was ruled out.", "No history of {p}.",
                "Denies {p}.", "No signs of {p} on exam.", "Initial concern for {p}, but workup was negative.",
                "{P} was felt to be unlikely.", "There was no {p}."),
    "family": ("{Rel} with {p}.", "Family history of {p} in {rel}.", "{Rel} died of {p} at age {n}0.",
               "{Rel} had {p}."),
    "rule_out": ("Rule out {p}.", "r/o {p}.", "Evaluated for possible {p}.", "Admitted to rule out {p}.",
                 "Concern for {p}; to be ruled out as an outpatient."),
    "px": ("{P} was considered but deferred.", "No {p} was performed.", "{P} was not indicated."),
}

# Non-discharge notes: category -> (descriptions, sentence templates, separator between sentences).
OTHER_NOTES = {
    "Nursing/other": (("Report",), (
        "Neuro: A&O x3, MAE, follows commands.", "Resp: LS clear bilaterally, sats 95-98% on {o2dev}.",
        "CV: HR {hr} NSR, no ectopy, BP {sbp}/{dbp}.", "GI: abd soft, nontender, +BS, tolerating {diet}.",
        "GU: foley draining clear yellow urine, {n}0-{n}00 cc/hr.", "Skin: intact, no breakdown noted.",
        "ID: afebrile, on {drug}.", "Social: {rel} in to visit, updated on plan of care.",
        "Plan: continue to monitor, wean O2 as tolerated.", "Pt resting comfortably in bed at this time.",
        'Pt stated "I feel much better today."',
        "Pain controlled with {drug} prn.", "K repleted per sliding scale.", "Will continue to monitor closely.",
        "NPN 7a-7p:", "Pt had a quiet night, slept in naps.", "Family meeting planned for tomorrow."), " "),
    "Radiology": (("CHEST (PORTABLE AP)", "CHEST (PA & LAT)", "CT HEAD W/O CONTRAST", "CT ABDOMEN W/CONTRAST",
                   "MR HEAD W & W/O CONTRAST", "BABYGRAM (CHEST ONLY)", "UNILAT LOWER EXT VEINS", "CT CHEST W/CONTRAST",
                   "RENAL U.S.", "ABDOMEN (SUPINE & ERECT)"), (
        "INDICATION: {indication}.", "COMPARISON: [**{date}**].", "FINDINGS: {cxr}.",
        "The cardiomediastinal silhouette is stable.", "There is no pneumothorax.",
        "Endotracheal tube terminates {n} cm above the carina.", "Right IJ central line tip in the distal SVC.",
        "IMPRESSION: {cxr}.", "No acute intracranial process.", "Mild bibasilar atelectasis.",
        "Small {side} pleural effusion, unchanged.", "Degenerative changes of the thoracic spine.",
        "The liver, gallbladder, spleen and pancreas are unremarkable.", "No free air.",
        "Study discussed with Dr. {name} at {time} on [**{date}**]."), "\n"),
    "Nursing": (("Nursing Progress Note", "Nursing Transfer Note", "Generic Note"), (
        "Assessment:", "Action:", "Response:", "Plan:", "Pt alert, oriented x{n}, calm and cooperative.",
        "HR {hr}, BP {sbp}/{dbp}, afebrile.", "Lungs with coarse breath sounds, suctioned for thick secretions.",
        "Tolerating tube feeds at goal {n}0 ml/hr.", "{Drug} given as ordered.", "Skin care provided q2h turns.",
        "Family updated by RN and MD.", "Continue current plan of care.", "Electrolytes repleted per protocol.",
        "Glucose covered per insulin sliding scale."), "\n"),
    "ECG": (("Report",), (
        "Sinus rhythm.", "Sinus tachycardia.", "Atrial fibrillation with rapid ventricular response.",
        "Left axis deviation.", "Possible old anterior myocardial infarction.", "Nonspecific ST-T wave changes.",
        "Compared to the previous tracing of [**{date}**] no significant change.", "Low QRS voltages in limb leads.",
        "Right bundle-branch block.", "Prolonged QT interval."), "\n"),
    "Physician": (("Physician Resident Progress Note", "Intensivist Note", "Physician Attending Progress Note",
                   "Physician Resident Admission Note"), (
        "Chief Complaint: {symptom}", "24 Hour Events:", "Allergies: No Known Drug Allergies",
        "Last dose of Antibiotics: {drug} - [**{date}**] {time}", "Infusions: {drug} - {n} mcg/Kg/min",
        "Review of systems is unchanged from admission except as noted below.",
        "Flowsheet Data as of [**{date}**] {time}", "Tmax: {temp} C, HR: {hr} bpm, BP: {sbp}/{dbp} mmHg, RR: {rr}",
        "Physical Examination: General Appearance: No acute distress, Overweight / Obese",
        "Cardiovascular: (S1: Normal), (S2: Normal)", "Respiratory / Chest: (Breath Sounds: Crackles : bibasilar)",
        "Labs / Radiology: WBC {wbc}, Hct {hct}, Plt {plt}, Cr {cr}, Glucose {glu}",
        "Assessment and Plan", "ICU Care: Nutrition: {diet}", "Glycemic Control: Regular insulin sliding scale",
        "Prophylaxis: DVT: SQ UF Heparin, Stress ulcer: PPI", "Code status: Full code",
        "Disposition: ICU", "Lines: Arterial Line - [**{date}**] {time}"), "\n"),
    "Echo": (("Report",), (
        "PATIENT/TEST INFORMATION:", "Indication: {indication}.", "Height: (in) {n}5", "Weight (lb): 1{n}0",
        "BP (mm Hg): {sbp}/{dbp}", "HR (bpm): {hr}", "Status: Inpatient", "Test: TTE (Complete)",
        "LEFT ATRIUM: Mild LA enlargement.", "LEFT VENTRICLE: Normal LV wall thickness. LVEF {n}0%.",
        "AORTIC VALVE: Mildly thickened aortic valve leaflets.", "MITRAL VALVE: Mild (1+) MR.",
        "PERICARDIUM: No pericardial effusion.", "Conclusions: {lvf} left ventricular systolic function."), "\n"),
    "Respiratory": (("Respiratory Care Shift Note",), (
        "Demographics", "Day of intubation: {n}", "Day of mechanical ventilation: {n}",
        "Ventilator mode: CMV/ASSIST/AutoFlow", "Vt (Set): 500 mL, RR (Set): 14, PEEP: 5 cmH2O, FiO2: 40%",
        "Breath Sounds: Rhonchi", "Secretions: Moderate, thick, white", "Plan: wean to PSV as tolerated.",
        "Albuterol and atrovent MDIs given q4h.", "Cuff pressure 25 cmH2O."), "\n"),
    "Nutrition": (("Nutrition",), (
        "Subjective: Pt on {diet}.", "Objective: Height {n}5 inch, weight {n}2 kg, BMI 2{n}.",
        "Estimated nutritional needs: Calories {n}800-2000, Protein {n}0-90 g.", "Assessment of nutritional status: "
        "at risk due to poor po intake.", "Recommend starting tube feeds, advance to goal {n}0 ml/hr.",
        "Will continue to follow."), "\n"),
    "General": (("Generic Note", "ICU Event Note"), (
        "Pt transferred from {unit}.", "Event: rapid response called for {symptom}.", "Family meeting held today.",
        "Plan discussed with the attending.", "Will continue to monitor."), "\n"),
    "Rehab Services": (("Physical Therapy Evaluation", "Occupational Therapy Evaluation"), (
        "Medical Diagnosis: {symptom}.", "Prior level of function: independent with ADLs.",
        "Bed mobility: min assist.", "Transfers: mod assist x1.", "Gait: ambulated {n}0 feet with rolling walker.",
        "Balance: fair static standing balance.", "Goals: independent transfers in 2 weeks.",
        "Recommendation: rehab facility."), "\n"),
    "Social Work": (("Social Work Progress Note", "Social Work Admission Note"), (
        "Met with pt and {rel} to provide support.", "Pt {lives}.", "Discussed coping with illness.",
        "Will continue to follow for support and dispo planning."), "\n"),
    "Case Management": (("Case Management Note", "Discharge Planning Note"), (
        "Insurance verified.", "Referral sent to rehab facilities.", "Anticipated discharge in {n} days.",
        "Pt {lives}."), "\n"),
    "Pharmacy": (("Pharmacy Note",), (
        "Pharmacokinetic consult for {drug}.", "Trough level {n}.{n}, goal 15-20.", "Recommend dose adjustment.",
        "Renal function: Cr {cr}."), "\n"),
    "Consult": (("Physician Consult Note",), (
        "Reason for consult: {symptom}.", "HPI: as per admission note.", "Recommendations:",
        "1. Continue {drug}.", "2. Check {lab} daily.", "3. Will follow with you."), "\n"),
}
CGID_CATEGORIES = ("Nursing/other", "Nursing", "Physician", "Respiratory", "Nutrition", "General", "Rehab Services",
                   "Social Work", "Case Management", "Pharmacy", "Consult")
STORETIME_CATEGORIES = CGID_CATEGORIES
NO_CHARTTIME_CATEGORIES = ("ECG",)
MEDS = ("{Drug} {dose} mg Tablet Sig: {count} Tablet PO {freq}.", "{Drug} {dose} mg Capsule Sig: {count} Capsule PO "
        "{freq}.", "{Drug} {dose} mg/mL Solution Sig: {count} Injection {freq}.")
PRE_MEDS = ("{Drug} {dose} mg daily", "{Drug} {dose} mg PO BID", "{Drug} {dose} mg qhs", "{Drug} prn")

# Where mentions of assigned diagnoses / procedures / non-assigned codes go (repeats are weights),
# and the section titles of a discharge summary in their order.
DX_SECTIONS = ("hpi", "hpi", "pmh", "pmh", "course", "course", "course", "dxlist", "dxlist", "results")
PX_SECTIONS = ("proc", "proc", "proc", "px_course", "px_course", "results")
NEG_SECTIONS = ("hpi", "hpi", "course", "results")
MODERN = ("Allergies", "Attending", "Chief Complaint", "Major Surgical or Invasive Procedure",
          "History of Present Illness", "Past Medical History", "Social History", "Family History", "Physical Exam",
          "Pertinent Results", "Brief Hospital Course", "Medications on Admission", "Discharge Medications",
          "Discharge Disposition", "Discharge Diagnosis", "Discharge Condition", "Discharge Instructions",
          "Followup Instructions")
